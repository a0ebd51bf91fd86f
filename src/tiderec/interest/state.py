"""A user's interest state and its online update: `update(state, event, context) -> state` is pure.

The state holds the recent event window, a long-term and a short-term profile, and (when a model is given)
the model's user state after the window. A profile is an exponentially time-decayed sum over events of
(type weight x item language-model vector) and of (type weight) per category, kept relative to the newest
timestamp seen. Such sums do not depend on arrival order, so an out-of-order event lands exactly where it
would have in time order, and replaying a log event by event equals computing the state in one batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from tiderec.config import STRICT
from tiderec.errors import ConfigError, RequestError
from tiderec.types import DAY_US, EVENT_TYPES, MINUTE_US

DEFAULT_TYPE_WEIGHTS = {
    "view": 1.0,
    "click": 1.0,
    "cart": 3.0,
    "fav": 2.0,
    "purchase": 5.0,
    "review": 2.0,
    "search": 1.0,
}


@dataclass(frozen=True)
class InterestConfig:
    """window: events kept; half-lives of the long-term (days) and short-term (minutes) profiles; weight of
    each event type; how many recent event keys are remembered to make replays idempotent; how many distinct
    items the user has had are remembered (the newest), for lists that leave them out."""

    __pydantic_config__ = STRICT

    window: int = 50
    long_half_life_days: float = 30.0
    short_half_life_minutes: float = 60.0
    type_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))
    dedupe_keys: int = 256
    seen_limit: int = 5000

    def __post_init__(self) -> None:
        if self.window < 1 or self.dedupe_keys < 1 or self.seen_limit < 1:
            raise ConfigError("interest: window, dedupe_keys and seen_limit must be >= 1")
        if self.long_half_life_days <= 0 or self.short_half_life_minutes <= 0:
            raise ConfigError("interest: half-lives must be > 0")
        unknown = set(self.type_weights) - set(EVENT_TYPES)
        if unknown:
            raise ConfigError(
                f"interest: unknown event types {sorted(unknown)} in type_weights; expected {EVENT_TYPES}"
            )

    def weight_of(self, event_type: int) -> float:
        return self.type_weights.get(EVENT_TYPES[event_type], 1.0)


@dataclass(frozen=True)
class Event:
    """One event: the item's index (-1 when the catalogue does not know it) and raw id, time, type index."""

    item_id: str
    item: int
    ts_us: int
    event_type: int

    def key(self) -> int:
        """Identity for de-duplication: (item id, time, type)."""
        blob = f"{self.item_id}\x1f{self.ts_us}\x1f{self.event_type}".encode()
        return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Profile:
    """Decayed sums relative to ref_us: total weight, weighted vector sum float64[d], weight per category."""

    weight: float
    vector: np.ndarray
    categories: Mapping[int, float]
    ref_us: int

    @classmethod
    def empty(cls, dim: int) -> Profile:
        return cls(0.0, np.zeros(dim), MappingProxyType({}), 0)

    def mean(self) -> np.ndarray:
        """float64[d]: the weighted mean item vector (zeros when empty)."""
        out: np.ndarray = self.vector / self.weight if self.weight > 0 else self.vector
        return out

    def top_categories(self, n: int = 3) -> list[tuple[int, float]]:
        """The n heaviest categories with their share of the category weight."""
        total = sum(self.categories.values())
        ranked = sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [(c, w / total) for c, w in ranked] if total > 0 else []

    def add(self, weight: float, vector: np.ndarray | None, category: int, ts_us: int, half_life_us: float) -> Profile:
        """This profile with one weighted observation at ts_us (earlier than ref_us: added already decayed)."""
        if self.weight == 0:
            keep, own, ref = 0.0, 1.0, ts_us
        elif ts_us >= self.ref_us:
            keep, own, ref = 0.5 ** ((ts_us - self.ref_us) / half_life_us), 1.0, ts_us
        else:
            keep, own, ref = 1.0, 0.5 ** ((self.ref_us - ts_us) / half_life_us), self.ref_us
        w = weight * own
        cats = {c: v * keep for c, v in self.categories.items()}
        if category >= 0:
            cats[category] = cats.get(category, 0.0) + w
        vec = self.vector * keep + (w * vector if vector is not None else 0.0)
        return Profile(self.weight * keep + w, vec, MappingProxyType(cats), ref)


@dataclass(frozen=True)
class QueryInterest:
    """What the user last asked for: the query's vector float32[d] in the item-vector space, when, and its
    constraints (price limits, negated phrases); it fades with its own half-life (see the recommender)."""

    text: str
    vector: np.ndarray
    ts_us: int
    min_price: float | None = None
    max_price: float | None = None
    negations: tuple[str, ...] = ()


@dataclass(frozen=True)
class InterestState:
    """Everything tiderec knows about one user's interests right now. window: recent events in time order;
    model_state: float32[D] from the model over the window, or None, and model_version: which model computed it;
    keys: recent event keys (arrival order); query: the last natural-language query, or None; seen: the distinct
    known items of the user's events, by last arrival, the newest last (at most `seen_limit`)."""

    user_id: str
    window: tuple[Event, ...]
    long: Profile
    short: Profile
    model_state: np.ndarray | None
    n_events: int
    unknown_items: int
    duplicates: int
    keys: tuple[int, ...]
    query: QueryInterest | None = None
    model_version: str = ""
    seen: tuple[int, ...] = ()

    @property
    def last_ts(self) -> int:
        return self.window[-1].ts_us if self.window else 0


WindowEncoder = Callable[[Sequence[Sequence[Event]]], list[np.ndarray]]
"""Windows of recent events (each in time order) -> the model's user state float32[D] after each, computed in
one batch."""


@dataclass(frozen=True)
class InterestContext:
    """What an update reads besides the state: item vectors float32[N, d] (rows aligned with item indices),
    categories int64[N] (-1: none), the settings, and optionally the model that encodes the window (with its
    version, recorded in the states it computes)."""

    item_vectors: np.ndarray
    categories: np.ndarray
    config: InterestConfig = field(default_factory=InterestConfig)
    encoder: WindowEncoder | None = None
    model_version: str = ""

    def __post_init__(self) -> None:
        if self.item_vectors.ndim != 2 or self.categories.shape != (self.item_vectors.shape[0],):
            raise RequestError(
                f"interest: item_vectors [N, d] and categories [N] must align, got {self.item_vectors.shape} "
                f"and {self.categories.shape}"
            )

    @property
    def n_items(self) -> int:
        return int(self.item_vectors.shape[0])


def initial(user_id: str, context: InterestContext) -> InterestState:
    """The state of a user with no history (empty profiles, no model state)."""
    dim = context.item_vectors.shape[1]
    return InterestState(user_id, (), Profile.empty(dim), Profile.empty(dim), None, 0, 0, 0, ())


def update(state: InterestState, event: Event, context: InterestContext) -> InterestState:
    """The state after one more event (pure). A duplicate (same item, time and type as a recent event) leaves
    the state as it was, counted; an unknown item joins the window but not the profiles, counted."""
    if not 0 <= event.event_type < len(EVENT_TYPES):
        raise RequestError(f"interest: event type index {event.event_type} outside 0..{len(EVENT_TYPES) - 1}")
    if event.item >= context.n_items:
        raise RequestError(f"interest: item index {event.item} outside the catalogue of {context.n_items}")
    key = event.key()
    if key in state.keys:
        return replace(state, duplicates=state.duplicates + 1)
    cfg = context.config
    long, short, unknown = state.long, state.short, state.unknown_items
    if event.item >= 0:
        weight = cfg.weight_of(event.event_type)
        vector = context.item_vectors[event.item].astype(np.float64)
        category = int(context.categories[event.item])
        long = long.add(weight, vector, category, event.ts_us, cfg.long_half_life_days * DAY_US)
        short = short.add(weight, vector, category, event.ts_us, cfg.short_half_life_minutes * MINUTE_US)
    else:
        unknown += 1
    window = _insert(state.window, event, cfg.window)
    model_state, version = state.model_state, state.model_version
    if context.encoder is not None and window != state.window:
        (model_state,), version = context.encoder([window]), context.model_version
    keys = (*state.keys, key)[-cfg.dedupe_keys :]
    seen = state.seen
    if event.item >= 0 and (not seen or seen[-1] != event.item):
        seen = (*(i for i in seen if i != event.item), event.item)[-cfg.seen_limit :]
    return InterestState(
        state.user_id, window, long, short, model_state, state.n_events + 1, unknown, state.duplicates, keys,
        state.query, version, seen,
    )  # fmt: skip


def update_many(
    start: Mapping[str, InterestState], events: Sequence[tuple[str, Event]], context: InterestContext
) -> dict[str, InterestState]:
    """The states after folding `update` over (user key, event) pairs in order, starting from `start` (a state
    for every key that appears). Equal to calling `update` event by event, but the model runs once per user whose
    window changed, all of them in one batch, instead of once per event."""
    light = replace(context, encoder=None)
    out = {key: start[key] for key, _ in events}
    for key, event in events:
        out[key] = update(out[key], event, light)
    if context.encoder is not None:
        changed = [key for key, state in out.items() if state.window != start[key].window]
        if changed:
            encoded = context.encoder([out[key].window for key in changed])
            for key, model_state in zip(changed, encoded, strict=True):
                out[key] = replace(out[key], model_state=model_state, model_version=context.model_version)
    return out


def refresh(state: InterestState, context: InterestContext) -> InterestState:
    """The state with its model state recomputed when another model (an earlier version) computed it, e.g.
    after the service swapped in a retrained model; otherwise the state itself."""
    if context.encoder is None or state.model_version == context.model_version or not state.window:
        return state
    (model_state,) = context.encoder([state.window])
    return replace(state, model_state=model_state, model_version=context.model_version)


def apply_query(state: InterestState, query: QueryInterest) -> InterestState:
    """The state with a new query as its short-term ask (pure; the previous query is replaced)."""
    return replace(state, query=query)


def batch_state(user_id: str, events: Sequence[Event], context: InterestContext) -> InterestState:
    """The same state as folding `update` over `events` (arrival order), computed at once in closed form."""
    state = initial(user_id, context)
    keys: list[int] = []
    kept: list[Event] = []
    duplicates = 0
    for event in events:
        key = event.key()
        if key in keys[-context.config.dedupe_keys :]:
            duplicates += 1
            continue
        keys.append(key)
        kept.append(event)
    if not kept:
        return replace(state, duplicates=duplicates)
    cfg = context.config
    known = [e for e in kept if e.item >= 0]
    long, short = state.long, state.short
    if known:
        items = np.array([e.item for e in known])
        ts = np.array([e.ts_us for e in known])
        weights = np.array([cfg.weight_of(e.event_type) for e in known])
        vectors = context.item_vectors[items].astype(np.float64)
        cats = context.categories[items]
        long = _closed_form(weights, vectors, cats, ts, cfg.long_half_life_days * DAY_US)
        short = _closed_form(weights, vectors, cats, ts, cfg.short_half_life_minutes * MINUTE_US)
    order = sorted(range(len(kept)), key=lambda i: (kept[i].ts_us, i))
    window = tuple(kept[i] for i in order)[-cfg.window :]
    model_state = context.encoder([window])[0] if context.encoder is not None else None
    seen = tuple(reversed(dict.fromkeys(e.item for e in reversed(known))))[-cfg.seen_limit :]
    return InterestState(
        user_id, window, long, short, model_state, len(kept), len(kept) - len(known), duplicates,
        tuple(keys[-cfg.dedupe_keys :]), None, context.model_version if model_state is not None else "", seen,
    )  # fmt: skip


def _closed_form(
    weights: np.ndarray, vectors: np.ndarray, cats: np.ndarray, ts: np.ndarray, half_life_us: float
) -> Profile:
    ref = int(ts.max())
    w = weights * 0.5 ** ((ref - ts) / half_life_us)
    per_cat: dict[int, float] = {}
    for c, v in zip(cats.tolist(), w.tolist(), strict=True):
        if c >= 0:
            per_cat[c] = per_cat.get(c, 0.0) + v
    return Profile(float(w.sum()), (w[:, None] * vectors).sum(axis=0), MappingProxyType(per_cat), ref)


def _insert(window: tuple[Event, ...], event: Event, size: int) -> tuple[Event, ...]:
    """The window with the event at its time position (after equal times), the oldest dropped beyond size."""
    if not window or event.ts_us >= window[-1].ts_us:
        return (*window, event)[-size:]
    at = next(i for i, e in enumerate(window) if e.ts_us > event.ts_us)
    if at == 0 and len(window) >= size:
        return window
    return (*window[:at], event, *window[at:])[-size:]
