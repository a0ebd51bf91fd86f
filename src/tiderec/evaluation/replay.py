"""Replay simulation on a real log in time order: before each real event after `start`, a policy serves a list
to that user from a fixed scorer's candidates; the reward is whether the event hits a listed item (or its
category). Learning policies learn online from those rewards. Besides cumulative reward and coverage it
measures how fast a user's newly emerging interest (a category new to them) is served.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from tiderec.config import STRICT
from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays, history_arrays
from tiderec.data.splits import Targets
from tiderec.errors import RequestError
from tiderec.explore.assign import ExperimentConfig, assign
from tiderec.explore.log import Exposure, exposures
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.explore.seeding import request_seed
from tiderec.explore.uncertainty import interest_uncertainty

Scorer = Callable[[SequenceArrays], np.ndarray]
"""SequenceArrays of B histories -> float[B, n_items] scores (e.g. a fitted ItemKNN or Markov `score`)."""


@dataclass(frozen=True)
class ReplayConfig:
    """k shown of `candidates` retrieved by the scorer; a new interest is a category first seen after at least
    `min_history` events, served if a list shows it within `horizon` of that user's later requests."""

    __pydantic_config__ = STRICT

    k: int = 10
    candidates: int = 100
    max_len: int = 50
    min_history: int = 3
    horizon: int = 5
    recent: int = 5
    seed: int = 0
    batch: int = 512


@dataclass(frozen=True)
class ReplayStream:
    """The replayed events in time order, with what every policy sees before each: user, item, ts (us) and
    category int64[m]; candidates int64[m, C] and their scores float[m, C]; uncertainty float[m];
    new_interest bool[m]."""

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    category: np.ndarray
    candidates: np.ndarray
    scores: np.ndarray
    uncertainty: np.ndarray
    new_interest: np.ndarray

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class ReplayResult:
    """One policy's replay: hit rates, coverage, explored share and the new-interest serving delays."""

    policy: str
    events: int
    item_hits: int
    category_hits: int
    shown_items: int
    coverage: float
    explored_share: float
    onsets: int
    delays: list[int] = field(default_factory=list)
    curve: list[int] = field(default_factory=list)
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def summary(self, horizon: int) -> dict[str, Any]:
        delays = np.array(self.delays + [horizon + 1] * (self.onsets - len(self.delays)))
        return {
            "policy": self.policy,
            "events": self.events,
            "item_hit_rate": self.item_hits / max(self.events, 1),
            "category_hit_rate": self.category_hits / max(self.events, 1),
            "coverage": self.coverage,
            "explored_share": self.explored_share,
            "new_interests": self.onsets,
            "new_interest_anticipated": float((delays == 0).mean()) if self.onsets else 0.0,
            "new_interest_served_next": float((delays <= 1).mean()) if self.onsets else 0.0,
            f"new_interest_served_within_{horizon}": float((delays <= horizon).mean()) if self.onsets else 0.0,
            "new_interest_mean_delay": float(delays.mean()) if self.onsets else 0.0,
            "cumulative_item_hits_by_decile": self.curve,
        }


def build_stream(
    inter: Interactions, categories: np.ndarray, start_ts: int, scorer: Scorer, config: ReplayConfig
) -> ReplayStream:
    """Every event at or after start_ts (time order), its history, scorer candidates and interest signals."""
    if categories.shape != (inter.n_items,):
        raise RequestError(f"replay: categories must be int64[{inter.n_items}], got {categories.shape}")
    rows = np.flatnonzero(inter.ts >= start_ts)
    if len(rows) == 0:
        raise RequestError("replay: no events at or after the start time")
    rows = rows[np.lexsort((rows, inter.ts[rows]))]
    user = inter.user[rows]
    hist_len = rows - inter.offsets[user]
    targets = Targets(user, inter.item[rows], inter.ts[rows], rows, hist_len)
    c = min(config.candidates, inter.n_items)
    cands = np.empty((len(rows), c), dtype=np.int64)
    scores = np.empty((len(rows), c))
    for start in tqdm(range(0, len(rows), config.batch), desc="replay candidates", unit="batch", leave=False):
        part = np.arange(start, min(start + config.batch, len(rows)))
        full = scorer(history_arrays(inter, targets.take(part), config.max_len))
        top = np.argpartition(-full, c - 1, axis=1)[:, :c]
        order = np.argsort(-np.take_along_axis(full, top, axis=1), axis=1, kind="stable")
        cands[part] = np.take_along_axis(top, order, axis=1)
        scores[part] = np.take_along_axis(full, cands[part], axis=1)
    uncertainty = np.empty(len(rows))
    new = np.zeros(len(rows), dtype=bool)
    for i, (u, r) in enumerate(zip(user, rows, strict=True)):
        begin = int(inter.offsets[u])
        past = categories[inter.item[begin:r]]
        uncertainty[i] = interest_uncertainty(past[-config.max_len :], config.recent)
        cat = categories[inter.item[r]]
        new[i] = r - begin >= config.min_history and cat >= 0 and not bool((past == cat).any())
    return ReplayStream(
        user, inter.item[rows], inter.ts[rows], categories[inter.item[rows]], cands, scores, uncertainty, new
    )


def replay(
    stream: ReplayStream,
    policies: Mapping[str, Policy],
    categories: np.ndarray,
    config: ReplayConfig,
) -> list[ReplayResult]:
    """Run every policy over the same stream with the same per-request seeds."""
    return [_run(name, policy, stream, categories, config) for name, policy in policies.items()]


def ab_replay(
    stream: ReplayStream,
    experiment: ExperimentConfig,
    policies: Mapping[str, Policy],
    key: bytes,
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    categories: np.ndarray,
    config: ReplayConfig,
) -> list[Exposure]:
    """An online experiment replayed: each user is assigned a variant by keyed hash and served by that
    variant's policy before each of their events; returns the exposure log (served 1 us before the event)."""
    missing = set(experiment.variants) - set(policies)
    if missing:
        raise RequestError(f"replay: no policy for variant(s) {sorted(missing)}")
    live = dict(policies)
    k = min(config.k, stream.candidates.shape[1])
    rows: list[Exposure] = []
    for i in tqdm(range(len(stream)), desc=f"experiment {experiment.name}", unit="event", leave=False):
        user_id = user_ids[int(stream.user[i])]
        variant = assign(experiment, key, user_id)
        request = ExploreRequest(stream.candidates[i], stream.scores[i], k, float(stream.uncertainty[i]))
        served = live[variant].select(request, request_seed(config.seed, user_id, i))
        rows += exposures(served, item_ids, f"r{i}", user_id, int(stream.ts[i]) - 1, variant)
        positions = (stream.candidates[i][None, :] == served.items[:, None]).argmax(axis=1)
        target_cat = int(stream.category[i])
        rewards = ((categories[served.items] == target_cat) & (target_cat >= 0)).astype(np.float64)
        live[variant] = live[variant].learn(request, positions, rewards)
    return rows


def _run(name: str, policy: Policy, stream: ReplayStream, categories: np.ndarray, config: ReplayConfig) -> ReplayResult:
    m = len(stream)
    k = min(config.k, stream.candidates.shape[1])
    shown_ever = np.zeros(len(categories), dtype=bool)
    item_hits = category_hits = explored = 0
    pending: dict[int, list[list[int]]] = {}
    delays: list[int] = []
    onsets = 0
    deciles = {int(np.ceil(m * q / 10)) - 1 for q in range(1, 11)}
    curve: list[int] = []
    hits = np.zeros(m, dtype=bool)
    for i in tqdm(range(m), desc=f"replay {name}", unit="event", leave=False):
        u = int(stream.user[i])
        request = ExploreRequest(stream.candidates[i], stream.scores[i], k, float(stream.uncertainty[i]))
        served = policy.select(request, request_seed(config.seed, u, i))
        shown_cats = categories[served.items]
        target_cat = int(stream.category[i])
        hit_item = bool((served.items == stream.item[i]).any())
        item_hits += hit_item
        hits[i] = hit_item
        category_hits += target_cat >= 0 and bool((shown_cats == target_cat).any())
        explored += int(served.explored.sum())
        shown_ever[served.items] = True
        still: list[list[int]] = []
        for onset in pending.get(u, []):
            onset[1] += 1
            if (shown_cats == onset[0]).any():
                delays.append(onset[1])
            elif onset[1] < config.horizon:
                still.append(onset)
        if stream.new_interest[i]:
            onsets += 1
            if (shown_cats == target_cat).any():
                delays.append(0)
            else:
                still.append([target_cat, 0])
        pending[u] = still
        positions = (stream.candidates[i][None, :] == served.items[:, None]).argmax(axis=1)
        rewards = ((shown_cats == target_cat) & (target_cat >= 0)).astype(np.float64)
        policy = policy.learn(request, positions, rewards)
        if i in deciles:
            curve.append(item_hits)
    return ReplayResult(
        policy=name,
        events=m,
        item_hits=item_hits,
        category_hits=int(category_hits),
        shown_items=int(shown_ever.sum()),
        coverage=float(shown_ever.mean()),
        explored_share=explored / max(m * k, 1),
        onsets=onsets,
        delays=delays,
        curve=curve,
        hits=hits,
    )


def hit_rate_difference(
    a: ReplayResult, b: ReplayResult, users: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Item hit rate of a minus b on the same stream, with a 95% paired bootstrap interval resampling users
    (a user's events are not independent). users: int64[m], the stream's user per event."""
    _, inverse = np.unique(users, return_inverse=True)
    diff_per_user = np.bincount(inverse, weights=a.hits.astype(float) - b.hits.astype(float))
    events_per_user = np.bincount(inverse).astype(float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(events_per_user), size=(n_boot, len(events_per_user)))
    boots = diff_per_user[picks].sum(axis=1) / events_per_user[picks].sum(axis=1)
    low, high = np.quantile(boots, [0.025, 0.975])
    return float(diff_per_user.sum() / events_per_user.sum()), float(low), float(high)
