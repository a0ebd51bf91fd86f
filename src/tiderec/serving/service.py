"""Everything the HTTP app calls: ingest events, recommend, read interests, list interest changes, understand
queries, forget users. State is committed per user in the state store, keyed by a pseudonym; recommendations are
computed from the committed state, so an event or a query changes the very next list."""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from tiderec.clean.pipeline import CleanResult
from tiderec.clean.store import read_cleaned
from tiderec.clean.vocab import Vocabulary
from tiderec.data.interactions import Interactions
from tiderec.data.space import InterestSpace, interest_space
from tiderec.dynamics.lasting import LASTING, History, LastingModel, learn_lasting, user_histories
from tiderec.dynamics.migration import Migration, could_declare_many, could_ever_declare, detect
from tiderec.dynamics.plot import timeline_svg
from tiderec.dynamics.timeline import timeline
from tiderec.dynamics.trends import rising_falling
from tiderec.errors import ConfigError, DatasetError, RequestError, StorageError, TiderecError
from tiderec.explore.greedy import EpsilonGreedy, Greedy
from tiderec.explore.seeding import request_seed
from tiderec.interest.codec import decode
from tiderec.interest.encoder import model_encoder
from tiderec.interest.state import (
    Event,
    InterestContext,
    InterestState,
    QueryInterest,
    WindowEncoder,
    apply_query,
    initial,
    refresh,
    update_many,
)
from tiderec.interest.state import InterestConfig as InterestSettings
from tiderec.interest.store import SQLStateStore, StateStore
from tiderec.query.build import load_tagger
from tiderec.query.entities import Lexicon
from tiderec.query.understand import QueryUnderstander, intent_model
from tiderec.ranking.retrieval import IndexConfig
from tiderec.recommender import Recommender, RecommenderConfig, Request, Served, ServingModel
from tiderec.serving.keys import Key, KeyStore, pseudonym
from tiderec.serving.privacy import mask_pii
from tiderec.storage import Database, is_url
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig, TextEncoder
from tiderec.text.store import read_vectors
from tiderec.train.checkpoint import SavedModel, weights_version
from tiderec.train.registry import load_model
from tiderec.types import DAY_US, EVENT_TYPES, Items

log = logging.getLogger("tiderec.serve")


@dataclass(frozen=True)
class Catalogue:
    """The items the service knows, in vocabulary order, with their titles, prices and interest space."""

    vocab: Vocabulary
    titles: list[str]
    prices: np.ndarray
    space: InterestSpace


@dataclass(frozen=True)
class ItemIn:
    item_id: str
    title: str
    price: float | None = None
    category: str | None = None


@dataclass(frozen=True)
class RecommendIn:
    """One recommendation request: whose list, how long, with exploration or not, at which moment (µs; None:
    the clock) and whether seen items are left out (None: the model's default)."""

    user_id: str
    k: int
    explore: bool = False
    now_us: int | None = None
    exclude_seen: bool | None = None


@dataclass(frozen=True)
class EventIn:
    user_id: str
    item_id: str
    ts_us: int
    event_type: str


DECODED_STATES = 4096
"""How many users' decoded states a service process keeps (tens of kB each)."""

FEED_LOCK = "pg_advisory_xact_lock(24, 1)"
"""PostgreSQL's lock on numbering interest changes (the two-key form: apart from the per-user locks), held from a
batch's first change to its commit, so that changes are numbered in commit order."""

MAX_PAGE = 1000
"""The most interest changes one page of the feed holds."""

CURSOR = re.compile(r"[0-9]{1,19}")
"""A feed cursor: the seq of the last change of a page, in base 10."""


class Change(NamedTuple):
    """An interest change as the feed records it: whose (user key), dated at its declaring event (µs), kind and
    confidence, and the named interests it moved from and to (JSON text, top 3)."""

    user_key: str
    at_us: int
    kind: str
    confidence: float
    from_json: str
    to_json: str
    lasting: float | None = None


LASTING_USERS = 1_000
"""The service learns its lasting-move model from at most this many of the catalogue log's shoppers (seconds)."""


class Service:
    def __init__(
        self,
        catalogue: Catalogue,
        context: InterestContext,
        recommender: Recommender,
        store: StateStore,
        keys: KeyStore,
        secret: bytes,
        understander: QueryUnderstander | None = None,
        query_encoder: TextEncoder | None = None,
        model_dir: Path | None = None,
    ) -> None:
        self.catalogue, self.context, self.recommender = catalogue, context, recommender
        self.store, self.keys, self.secret = store, keys, secret
        self.understander, self.query_encoder = understander, query_encoder
        self.model_dir = model_dir
        self.catalogue_version = 0
        """Counts catalogue changes, so a model swap built outside the lock notices an upsert that raced it."""
        self.explorer = EpsilonGreedy()
        self.lock = threading.RLock()
        """Serialises calls: the event loop (hot paths) and worker threads (slow ones) share the connections."""
        self.decoded: dict[str, tuple[bytes, InterestState]] = {}
        """Recently decoded states by user key, least recently read first (see `_decoded`)."""
        self.declarable: tuple[np.ndarray | None, bool] | None = None
        """The interest vectors last screened and whether any change can be declared over them (`_changes`)."""
        self.lasting: LastingModel | None = None
        """Whether a run of new interests will last (dynamics/lasting.py); learned before the service answers
        (`learn_lasting`, in `load_service`), None when the log holds too few runs."""
        self.db = keys.db
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS interest_counts (day BIGINT, interest INTEGER, n BIGINT NOT NULL, "
            "PRIMARY KEY (day, interest))"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS catalogue_upserts (item_id TEXT PRIMARY KEY, title TEXT NOT NULL, "
            "price DOUBLE PRECISION, category TEXT, vector {blob} NOT NULL, seq BIGINT NOT NULL)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS service_metrics (worker TEXT, route TEXT, status INTEGER, n BIGINT NOT NULL, "
            "seconds DOUBLE PRECISION NOT NULL, PRIMARY KEY (worker, route, status))"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS interest_changes (seq {serial}, user_key TEXT NOT NULL, at_us BIGINT NOT NULL, "
            "recorded_us BIGINT NOT NULL, kind TEXT NOT NULL, confidence DOUBLE PRECISION NOT NULL, "
            "from_interests TEXT NOT NULL, to_interests TEXT NOT NULL, lasting DOUBLE PRECISION, "
            "UNIQUE (user_key, at_us))"
        )
        self.upsert_seq = 0
        """The last catalogue upsert (by sequence number) this process has applied."""
        self._followed = ""
        """The published model version this process last tried to follow (tried once, not on every request)."""
        self._epoch()
        if self.model_dir is not None:
            self._publish_model(self.context.model_version)
        self._sync()

    def _epoch(self) -> None:
        """The one-row table every process of the service reads on each call: the catalogue's last upsert
        sequence number and the model version in service, so processes sharing the database stay in step."""
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS service_epoch (id INTEGER PRIMARY KEY, catalogue_seq BIGINT NOT NULL, "
            "model_version TEXT NOT NULL)"
        )
        if not self.db.query("SELECT 1 FROM service_epoch WHERE id = 1"):
            ((top,),) = self.db.query("SELECT COALESCE(MAX(seq), 0) FROM catalogue_upserts")
            self.db.execute(
                "INSERT INTO service_epoch (id, catalogue_seq, model_version) VALUES (1, ?, '') "
                "ON CONFLICT(id) DO NOTHING",
                (int(top),),
            )

    def _sync(self) -> None:
        """Catch up with what other processes sharing the database changed: catalogue upserts are applied here
        and now; a newly published model is loaded in the background (requests go on with the current one)."""
        ((seq, version),) = self.db.query("SELECT catalogue_seq, model_version FROM service_epoch WHERE id = 1")
        if seq > self.upsert_seq:
            self._sync_catalogue(int(seq))
        if version and version not in (self.context.model_version, self._followed) and self.model_dir is not None:
            self._followed = version
            threading.Thread(target=self._follow_model, name="tiderec-follow-model", daemon=True).start()

    def _follow_model(self) -> None:
        try:
            reloaded = self.reload_model()
            log.info("model %s loaded, following another process", reloaded["model_version"])
        except StorageError as exc:
            self._followed = ""  # tried again on a later call, once the database answers
            log.warning("another process published a new model; following it waits for the database: %s", exc)
        except TiderecError as exc:
            log.warning("another process published a new model; this one keeps its model: %s", exc)

    def _publish_model(self, version: str) -> None:
        self.db.execute("UPDATE service_epoch SET model_version = ? WHERE id = 1", (version,))

    def _sync_catalogue(self, upto: int) -> None:
        """Apply the catalogue upserts this process has not applied yet (any process's, also those made before a
        restart), in the order they were committed; `upto` is the epoch's sequence number read before."""
        rows = self.db.query(
            "SELECT item_id, title, price, category, vector, seq FROM catalogue_upserts WHERE seq > ? ORDER BY seq",
            (self.upsert_seq,),
        )
        self.upsert_seq = max([upto, *(int(row[5]) for row in rows)])
        if not rows:
            return
        vectors = self.recommender.item_vectors
        dim = 0 if vectors is None else vectors.shape[1]
        stored = [(ItemIn(i, t, p, c), np.frombuffer(v, dtype=np.float32)) for i, t, p, c, v, _ in rows]
        usable = [(item, vector) for item, vector in stored if vector.size == dim]
        if usable:
            self._apply_items([item for item, _ in usable], np.stack([vector for _, vector in usable]))

    def _state(self, user_id: str) -> InterestState:
        """The user's committed state (its model state recomputed if an earlier model computed it)."""
        key = pseudonym(self.secret, user_id)
        return self._decoded(key, self.store.payload(key))

    def _decoded(self, key: str, raw: bytes | None) -> InterestState:
        """The state stored as `raw`; the last DECODED_STATES decodings are kept, each with the bytes it came from,
        so a user read again without new events is not decoded again (states are immutable; decoding was about
        a tenth of a served list's CPU). A user with no stored state (forgotten) leaves the kept ones at once.
        Callers hold the service's lock."""
        if raw is None:
            self.decoded.pop(key, None)
            return initial(key, self.context)
        kept = self.decoded.get(key)
        state = kept[1] if kept is not None and kept[0] == raw else decode(raw)
        self._keep(key, raw, state)
        return refresh(state, self.context)

    def _keep(self, key: str, raw: bytes, state: InterestState) -> None:
        """Keep `state` as the decoding of `raw` (what this process just stored, or read), the oldest kept out."""
        self.decoded.pop(key, None)
        self.decoded[key] = (raw, state)
        if len(self.decoded) > DECODED_STATES:
            del self.decoded[next(iter(self.decoded))]

    def _ingest(self, events: list[EventIn]) -> dict[str, int]:
        """Fold events into their users' states and commit them (one transaction for the batch); the model runs
        once per user of the batch, all users in one forward pass. Optimistic across processes: the states are
        read and folded outside the database's write lock, and only users whose stored state changed meanwhile
        (another process committed their events) are folded again under it, so processes run the model in
        parallel and still lose no event."""
        keyed: list[tuple[str, Event]] = []
        unknown = 0
        for e in events:
            if e.event_type not in EVENT_TYPES:
                raise RequestError(f"event_type {e.event_type!r}: expected one of {list(EVENT_TYPES)}")
            index = self.catalogue.vocab.index_of(e.item_id)
            unknown += index is None
            event = Event(e.item_id, -1 if index is None else index, e.ts_us, EVENT_TYPES.index(e.event_type))
            keyed.append((e.user_id, event))
        keys = {user: pseudonym(self.secret, user) for user in dict.fromkeys(user for user, _ in keyed)}
        stored = self.store.payloads(keys.values())
        seen = {user: stored.get(key) for user, key in keys.items()}
        start = {user: self._decoded(keys[user], raw) for user, raw in seen.items()}
        states = update_many(start, keyed, self.context)
        found = self._declared(start, states, keyed, states.keys())
        with self.store.locked(keys.values()):
            stored = self.store.payloads(keys.values())
            now = {user: stored.get(key) for user, key in keys.items()}
            moved = [user for user in keys if now[user] != seen[user]]
            if moved:
                again = {user: self._decoded(keys[user], now[user]) for user in moved}
                start.update(again)
                states.update(update_many(again, [(u, e) for u, e in keyed if u in moved], self.context))
                found.update(self._declared(again, states, keyed, moved))
            written = self.store.put_many(states.values())
            self._record([change for changes in found.values() for change in changes])
        for state in states.values():
            self._keep(state.user_id, written[state.user_id], state)
        duplicates = sum(states[user].duplicates - start[user].duplicates for user in states)
        self._count(events)
        return {"accepted": len(events) - duplicates, "duplicates": duplicates, "unknown_items": unknown,
                "users": len(states)}  # fmt: skip

    def _may_declare(self) -> bool:
        """Whether any change can be declared over the catalogue's interests (`could_ever_declare`, screened once
        per set of interest vectors: Online Retail's clusters lie too near for one to be novel)."""
        vectors = self.catalogue.space.vectors
        if self.declarable is None or self.declarable[0] is not vectors:
            self.declarable = (vectors, could_ever_declare(vectors))
        return self.declarable[1]

    def _codes(self, windows: list[tuple[Event, ...]]) -> np.ndarray:
        """The windows' interest codes int64[windows, longest] (-1: an unknown item, one without interest, padding)."""
        codes = self.catalogue.space.codes
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        flat = np.fromiter((e.item for w in windows for e in w), dtype=np.int64, count=int(lengths.sum()))
        items = np.full((len(windows), int(lengths.max(initial=0))), -1, dtype=np.int64)
        items[np.arange(items.shape[1]) < lengths[:, None]] = flat
        return np.where(items >= 0, codes[np.maximum(items, 0)], -1)

    def _changes(self, state: InterestState) -> list[Migration]:
        """The changes `detect` declares in the state's window."""
        if not self._may_declare():
            return []
        (codes,) = self._codes([state.window])
        return detect(codes, vectors=self.catalogue.space.vectors)

    def learn_lasting(self, cleaned: CleanResult) -> None:
        """Learn the lasting-move model from the catalogue's cleaned log (a seeded sample of LASTING_USERS
        shoppers); a log with too few runs of new interests leaves none."""
        space = self.catalogue.space
        if not len(space.labels):
            return
        start = time.perf_counter()
        try:
            inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
            histories = user_histories(inter, space.codes[: inter.n_items])
            self.lasting = learn_lasting(histories, len(space.labels), space.vectors, LASTING_USERS)
            if self.lasting is not None:
                scores = ", ".join(f"k={k}: {max(a.values()):.3f}" for k, a in self.lasting.fold_auc.items())
                seconds = time.perf_counter() - start
                log.info("lasting-move model learned in %.1f s (out-of-fold ROC-AUC %s)", seconds, scores)
        except TiderecError as exc:
            log.warning("no lasting-move model: %s", exc)

    def _history(self, window: tuple[Event, ...]) -> History:
        """The window's events with a known interest, as the lasting-move model reads a history."""
        codes = self.catalogue.space.codes
        return History.of(
            np.array([codes[e.item] if e.item >= 0 else -1 for e in window], dtype=np.int64),
            np.array([e.ts_us for e in window], dtype=np.int64),
            np.array([e.event_type for e in window], dtype=np.int8),
        )

    def _lasting_at(self, window: tuple[Event, ...], upto: int) -> float | None:
        """P(lasting) of the run of new interests the window's first `upto` events end in (None: no model yet, or
        no run there long enough to call)."""
        model = self.lasting
        if model is None:
            return None
        current = model.current(self._history(window[:upto]))
        return None if current is None else round(current[1], 4)

    def _lasting_now(self, state: InterestState) -> dict[str, Any] | None:
        """The run of new interests the user's window ends in, and whether it will last (None: none)."""
        model = self.lasting
        if model is None:
            return None
        history = self._history(state.window)
        current = model.current(history)
        if current is None:
            return None
        run, probability = current
        new = [int(c) for c in dict.fromkeys(history.codes[run.start :].tolist())]
        return {
            "since_us": int(history.ts[run.start]),
            "events": run.length,
            "interests": [self.catalogue.space.label(c) for c in new[:3]],
            "probability": round(probability, 4),
            "called_lasting": probability >= model.thresholds[model.fitted_k(min(run.length, LASTING))],
        }

    def _named(self, pairs: list[tuple[int, float]]) -> list[dict[str, Any]]:
        label = self.catalogue.space.label
        return [{"interest": label(c), "share": round(s, 4)} for c, s in pairs]

    def _declared(
        self,
        before: dict[str, InterestState],
        after: dict[str, InterestState],
        keyed: list[tuple[str, Event]],
        users: Collection[str],
    ) -> dict[str, list[Change]]:
        """By user key, the changes that a batch's events (`keyed`) declare in the windows of `users`, folded from
        `before` into `after`, as the feed records them (dated at their declaring event). Changes at older events
        were recorded when those arrived (one that appears there only because the window moved past the history
        before it is no new change). `detect` runs only for the users whose windows `could_declare_many` cannot
        rule out, screened together."""
        if not self._may_declare():
            return {}
        found: dict[str, list[Change]] = {after[user].user_id: [] for user in users}
        batches: dict[str, list[Event]] = {}
        for user, event in keyed:
            batches.setdefault(user, []).append(event)
        grown = [(after[u], batches[u]) for u in users if after[u].window != before[u].window]
        if not grown:
            return found
        vectors = self.catalogue.space.vectors
        codes = self._codes([state.window for state, _ in grown])
        first = np.array([self._first(state.window, batch) for state, batch in grown], dtype=np.int64)
        for row in np.flatnonzero(could_declare_many(codes, first, vectors=vectors)).tolist():
            state = grown[row][0]
            for m in detect(codes[row, : len(state.window)], vectors=vectors, first=int(first[row])):
                old, new = (json.dumps(self._named(pairs[:3]), ensure_ascii=False) for pairs in (m.from_, m.to))
                at_us = state.window[m.at_index].ts_us
                lasting = self._lasting_at(state.window, m.at_index + 1)
                found[state.user_id].append(Change(state.user_id, at_us, m.kind, m.confidence, old, new, lasting))
        return found

    @staticmethod
    def _first(window: tuple[Event, ...], batch: list[Event]) -> int:
        """The position of the window's first event from `batch` (its length when none is there): the very objects,
        as folding inserts them, so an older event equal to a batch's duplicate does not count."""
        ids, low = {id(e) for e in batch}, min(e.ts_us for e in batch)
        first = len(window)
        for at in range(len(window) - 1, -1, -1):  # the window is in time order, its new events mostly last
            if window[at].ts_us < low:
                break
            if id(window[at]) in ids:
                first = at
        return first

    def _record(self, changes: list[Change]) -> None:
        """Record the changes not recorded before, in the transaction that commits their users' states (callers hold
        `store.locked` on those users, so no other process records theirs meanwhile). Written in key order; on
        PostgreSQL under FEED_LOCK, so a reader paging by `seq` never passes a change that commits later."""
        if not changes:
            return
        db = self.store.db
        users = sorted({change.user_key for change in changes})
        recorded: set[tuple[str, int]] = set()
        for at in range(0, len(users), 500):
            part = users[at : at + 500]
            marks = ", ".join("?" * len(part))
            rows = db.query(f"SELECT user_key, at_us FROM interest_changes WHERE user_key IN ({marks})", part)
            recorded.update((str(user), int(at_us)) for user, at_us in rows)
        new = sorted(change for change in changes if (change.user_key, change.at_us) not in recorded)
        if not new:
            return
        with db.transaction():
            if db.dialect == "postgresql":
                db.query(f"SELECT {FEED_LOCK}")
            now = time.time_ns() // 1000
            db.executemany(
                "INSERT INTO interest_changes (user_key, at_us, recorded_us, kind, confidence, from_interests, "
                "to_interests, lasting) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_key, at_us) DO NOTHING",
                [(c.user_key, c.at_us, now, c.kind, c.confidence, c.from_json, c.to_json, c.lasting) for c in new],
            )

    def _migrations(self, since_us: int | None, cursor: str | None, limit: int) -> dict[str, Any]:
        """One page of the interest changes recorded at or after `since_us` (µs; None: all), after the page that
        answered `cursor`, in recording order; `next_cursor` continues it (None on the last page)."""
        if not 1 <= limit <= MAX_PAGE:
            raise RequestError(f"limit: expected 1 to {MAX_PAGE}, got {limit}")
        clock = time.time_ns() // 1000
        if since_us is not None and since_us > clock:
            raise RequestError(
                f"since: {_utc(since_us)} is in the future (server clock {_utc(clock)}); changes are listed by "
                "when they were recorded"
            )
        last = 0
        if cursor is not None:
            if not CURSOR.fullmatch(cursor) or int(cursor) >= 2**63:
                shown = cursor if len(cursor) <= 40 else cursor[:39] + "…"
                raise RequestError(f"cursor: expected the next_cursor of a previous page, got {shown!r}")
            last = int(cursor)
        rows = self.db.query(
            "SELECT seq, user_key, at_us, recorded_us, kind, confidence, from_interests, to_interests, lasting "
            "FROM interest_changes WHERE seq > ? AND recorded_us >= ? ORDER BY seq LIMIT ?",
            (last, -(2**63) if since_us is None else max(since_us, -(2**63)), limit + 1),
        )
        page = rows[:limit]
        changes = [
            {"user": str(user), "at_us": int(at_us), "recorded_us": int(recorded_us), "kind": str(kind),
             "confidence": float(confidence), "from": json.loads(before), "to": json.loads(after),
             "lasting_probability": None if lasting is None else float(lasting)}
            for _, user, at_us, recorded_us, kind, confidence, before, after, lasting in page
        ]  # fmt: skip
        more = len(rows) > limit
        return {"changes": changes, "next_cursor": str(page[-1][0]) if more else None}

    def _count(self, events: list[EventIn]) -> None:
        """Per UTC day and interest, events seen (the population view behind /v1/trends). Rows are written in key
        order, so that two processes' batches lock shared rows in the same order and cannot deadlock on
        PostgreSQL (in event order, a soak run answered 2 of 1,945 batches 503 after their states committed)."""
        counts: dict[tuple[int, int], int] = {}
        for e in events:
            index = self.catalogue.vocab.index_of(e.item_id)
            code = int(self.catalogue.space.codes[index]) if index is not None else -1
            if code >= 0:
                key = (e.ts_us // DAY_US, code)
                counts[key] = counts.get(key, 0) + 1
        with self.db.transaction():
            self.db.executemany(
                "INSERT INTO interest_counts (day, interest, n) VALUES (?, ?, ?) "
                "ON CONFLICT(day, interest) DO UPDATE SET n = interest_counts.n + excluded.n",
                [(d, c, n) for (d, c), n in sorted(counts.items())],
            )

    def _trends(self, top: int = 10) -> dict[str, Any]:
        """Interests rising and falling between the last two days with events (binomial test, BH q-values)."""
        days = [d for (d,) in self.db.query("SELECT DISTINCT day FROM interest_counts ORDER BY day DESC LIMIT 2")]
        if len(days) < 2:
            return {"days": [], "moves": []}
        n = len(self.catalogue.space.labels)
        matrix = np.zeros((2, n))
        for row, day in enumerate(sorted(days)):
            for code, count in self.db.query("SELECT interest, n FROM interest_counts WHERE day = ?", (day,)):
                matrix[row, code] = count
        moves = [t for t in rising_falling(matrix) if t.q < 0.05][:top]
        label = self.catalogue.space.label
        return {
            "days": [str(np.datetime64(d, "D")) for d in sorted(days)],
            "moves": [{"interest": label(t.interest), "direction": "rising" if t.ratio > 1 else "falling",
                       "before": t.before, "now": t.now, "share_ratio": round(float(t.ratio), 3),
                       "q": float(f"{t.q:.3g}")} for t in moves],
        }  # fmt: skip

    def _recommend_many(self, asks: Sequence[RecommendIn]) -> list[dict[str, Any] | TiderecError]:
        """Each ask's list (or its error): the states read in one query, the users scored together."""
        clock = time.time_ns() // 1000
        keys = [pseudonym(self.secret, a.user_id) for a in asks]
        stored = self.store.payloads(keys)
        out: list[dict[str, Any] | TiderecError | None] = [None] * len(asks)
        requests: list[tuple[int, Request]] = []
        for at, (ask, key) in enumerate(zip(asks, keys, strict=True)):
            now = ask.now_us if ask.now_us is not None else clock
            try:
                state = self._decoded(key, stored.get(key))
            except TiderecError as exc:
                out[at] = exc
                continue
            policy = self.explorer if ask.explore else Greedy()
            seed = request_seed(0, ask.user_id, now)
            requests.append((at, Request(state, ask.k, now, seed, policy, ask.exclude_seen)))
        served = self.recommender.recommend_many([request for _, request in requests])
        for (at, _), one in zip(requests, served, strict=True):
            out[at] = one if isinstance(one, TiderecError) else self._listed(asks[at].user_id, one)
        return [o for o in out if o is not None]

    def _listed(self, user_id: str, served: Served) -> dict[str, Any]:
        items = served.items
        return {
            "user_id": user_id,
            "policy": items.policy,
            "fallback": served.fallback,
            "exclude_seen": served.exclude_seen,
            "items": [
                {
                    "item_id": self.catalogue.vocab.id_of(int(i)),
                    "title": self.catalogue.titles[int(i)],
                    "score": round(float(s), 5),
                    "propensity": round(float(p), 6),
                    "reason": r,
                }
                for i, s, p, r in zip(items.items, items.scores, items.propensities, served.reasons, strict=True)
            ],
        }

    def _interests(self, user_id: str) -> dict[str, Any]:
        """The user's interests, recent events and the changes in their window; `new_interests`: the run of
        interests new to the user that the window ends in, with the lasting-move model's probability that it
        lasts (None: no such run, or no model); `pseudonym` is the id the user has in the database and in the
        feed of changes (`migrations`)."""
        state = self._state(user_id)
        named = self._named
        return {
            "user_id": user_id,
            "pseudonym": pseudonym(self.secret, user_id),
            "events": state.n_events,
            "long_term": named(state.long.top_categories(5)),
            "short_term": named(state.short.top_categories(5)),
            "recent": [
                {"item_id": e.item_id, "ts_us": e.ts_us, "event_type": EVENT_TYPES[e.event_type]}
                for e in state.window[-10:]
            ],
            "migrations": [
                {
                    "at": state.window[m.at_index].ts_us,
                    "kind": m.kind,
                    "confidence": m.confidence,
                    "from": named(m.from_[:3]),
                    "to": named(m.to[:3]),
                    "lasting_probability": self._lasting_at(state.window, m.at_index + 1),
                }
                for m in self._changes(state)
            ],
            "new_interests": self._lasting_now(state),
            "query": None if state.query is None else {"text": state.query.text, "ts_us": state.query.ts_us},
        }

    def _query(self, text: str, user_id: str | None, now_us: int | None = None) -> dict[str, Any]:
        """Understand the text; with a user, its interest becomes that user's short-term query interest."""
        if self.understander is None or self.query_encoder is None:
            raise RequestError("this service was started without query understanding")
        (result,) = self.understander.understand([text])
        out = result.to_dict()
        if user_id is not None and result.intent not in ("other", "support"):
            now = now_us if now_us is not None else time.time_ns() // 1000
            vector = self.query_encoder.encode_queries([text])[0]
            price = result.price
            low, high = (price.min, price.max) if price else (None, None)
            negated = tuple(n.text for n in result.negations)
            query = QueryInterest(mask_pii(text), vector, now, low, high, negated)
            with self.store.locked([pseudonym(self.secret, user_id)]):
                self.store.put(apply_query(self._state(user_id), query))
            out["applied_to_user"] = True
        return out

    def _upsert_items(self, items: list[ItemIn]) -> dict[str, int]:
        """New or changed catalogue items: encoded with the catalogue's encoder and recommendable at once."""
        cat = self.catalogue
        if not items:
            return {"inserted": 0, "updated": 0, "items": len(cat.vocab)}
        if self.query_encoder is None:
            vectors = np.zeros((len(items), 0), dtype=np.float32)
        else:
            vectors = self.query_encoder.encode_passages([i.title for i in items])
        new_ids = {i.item_id for i in items if cat.vocab.index_of(i.item_id) is None}
        with self.db.transaction(write=True):
            self.db.execute("UPDATE service_epoch SET catalogue_seq = catalogue_seq + ? WHERE id = 1", (len(items),))
            ((top,),) = self.db.query("SELECT catalogue_seq FROM service_epoch WHERE id = 1")
            self.db.executemany(
                "INSERT INTO catalogue_upserts (item_id, title, price, category, vector, seq) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET title = excluded.title, price = excluded.price, "
                "category = excluded.category, vector = excluded.vector, seq = excluded.seq",
                [(i.item_id, i.title, i.price, i.category, v.astype(np.float32).tobytes(), top - len(items) + 1 + k)
                 for k, (i, v) in enumerate(zip(items, vectors, strict=True))],
            )  # fmt: skip
        self._sync()
        return {"inserted": len(new_ids), "updated": len(items) - len(new_ids), "items": len(self.catalogue.vocab)}

    def _apply_items(self, items: list[ItemIn], vectors: np.ndarray) -> None:
        """Put items (with their text vectors float32[len(items), d], d = 0 without text) into the catalogue and the
        recommender."""
        cat = self.catalogue
        new_ids = list(dict.fromkeys(i.item_id for i in items if cat.vocab.index_of(i.item_id) is None))
        vocab = cat.vocab.extend(pl.Series(new_ids, dtype=pl.String)) if new_ids else cat.vocab
        rows = np.array([vocab.index_of(i.item_id) for i in items], dtype=np.int64)
        prices = np.array([np.nan if i.price is None else i.price for i in items])
        self.recommender.add_items(rows, vectors if vectors.shape[1] else None, prices, [i.title for i in items])
        n = len(vocab)
        titles = cat.titles + [""] * (n - len(cat.titles))
        codes = np.concatenate([cat.space.codes, np.full(n - len(cat.space.codes), -1, dtype=np.int64)])
        for row, item in zip(rows.tolist(), items, strict=True):
            titles[row] = item.title
            codes[row] = cat.space.labels.index(item.category) if item.category in cat.space.labels else -1
        space = replace(cat.space, codes=codes)
        self.catalogue = Catalogue(vocab, titles, self.recommender.prices, space)
        text = self.recommender.item_vectors
        item_vectors = np.zeros((n, 0), dtype=np.float32) if text is None else text
        self.context = replace(self.context, item_vectors=item_vectors, categories=codes)
        self.catalogue_version += 1

    def _dashboard(self, user_id: str) -> str:
        """A self-contained HTML page: the user's interests over their recent window, migrations, current
        recommendations with reasons, and population trends."""
        state = self._state(user_id)
        space = self.catalogue.space
        weights = np.array([self.context.config.weight_of(e.event_type) for e in state.window])
        items = np.array([e.item for e in state.window], dtype=np.int64)
        ts = np.array([e.ts_us for e in state.window], dtype=np.int64)
        tl = timeline(user_id, items, ts, weights, space)
        info = self.interests(user_id)
        recs = self.recommend(user_id, 10) if len(self.catalogue.titles) else {"items": []}
        trends = self.trends()
        rows = "".join(
            f"<tr><td>{escape(i['title'] or i['item_id'])}</td><td>{escape(i['reason'])}</td>"
            f"<td>{i['score']:.3f}</td></tr>"
            for i in recs["items"]
        )
        moves = "".join(
            f"<tr><td>{escape(m['interest'])}</td><td>{m['direction']}</td><td>x{m['share_ratio']}</td></tr>"
            for m in trends["moves"]
        )
        changes = (
            "".join(
                f"<li>{m['kind']}: {escape(', '.join(x['interest'] for x in m['from']))} → "
                f"{escape(', '.join(x['interest'] for x in m['to']))} ({m['confidence']:.2f}"
                + ("" if m["lasting_probability"] is None else f"; P(lasting) {m['lasting_probability']:.2f}")
                + ")</li>"
                for m in info["migrations"]
            )
            or "<li>none</li>"
        )
        run = info["new_interests"]
        if run is not None:
            verdict = "likely to last" if run["called_lasting"] else "likely an excursion"
            changes += (
                f"<li>new now: {escape(', '.join(run['interests']))}, {run['events']} events so far; "
                f"P(lasting) {run['probability']:.2f} ({verdict})</li>"
            )
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>tiderec: {escape(user_id)}</title></head><body>"
            f"<h1>{escape(user_id)}</h1><section id='timeline'><h2>Interests over the recent window</h2>"
            f"{timeline_svg(tl)}</section><section id='migrations'><h2>Changes</h2><ul>{changes}</ul></section>"
            f"<section id='recommendations'><h2>Recommended now</h2><table><tr><th>item</th><th>why</th>"
            f"<th>score</th></tr>{rows}</table></section><section id='trends'><h2>Across shoppers</h2><table>"
            f"<tr><th>interest</th><th>moving</th><th>share ratio</th></tr>{moves}</table></section></body></html>"
        )

    def _forget(self, user_id: str) -> bool:
        """Delete the user's state and recorded interest changes (one transaction); whether a state was stored."""
        key = pseudonym(self.secret, user_id)
        self.decoded.pop(key, None)
        with self.store.locked([key]):
            self.store.db.execute("DELETE FROM interest_changes WHERE user_key = ?", (key,))
            return self.store.delete(key)

    def reload_model(self) -> dict[str, Any]:
        """Load the model folder again (a retraining wrote a new model there) and swap it in while requests go on:
        the new recommender is built outside the lock and swapped in under it; each user's model state is
        recomputed with the new model when next read. A folder that does not load leaves the old model serving."""
        if self.model_dir is None:
            raise RequestError("this service was started without --model: there is no model to reload")
        started = time.perf_counter()
        served = served_model(self.model_dir, self.catalogue.vocab)
        while True:
            with self.lock:
                seen, current = self.catalogue_version, self.recommender
                text = current.item_vectors
                vectors, prices, titles = (
                    None if text is None else text.copy(),
                    current.prices.copy(),
                    list(self.catalogue.titles),
                )
            recommender = Recommender(served.serving, vectors, prices, titles, current.config, current.policy)
            with self.lock:
                if self.catalogue_version != seen:
                    continue
                previous = self.context.model_version
                self._publish_model(served.version)  # first: a database that is down leaves the old model in place
                self.recommender = recommender
                self.context = replace(self.context, encoder=served.encoder, model_version=served.version)
                break
        return {"model_version": served.version, "previous_version": previous,
                "seconds": round(time.perf_counter() - started, 3)}  # fmt: skip

    @contextmanager
    def _synced(self) -> Iterator[None]:
        """Under the lock, after catching up with what other processes sharing the database changed."""
        with self.lock:
            self._sync()
            yield

    def readiness(self) -> dict[str, Any]:
        """Catalogue size and model in service, after a read of the database (StorageError while it is down)."""
        with self._synced():
            return {"status": "ready", "items": len(self.catalogue.titles), "model_version": self.context.model_version}

    def check_key(self, key: str | None) -> Key | None:
        with self.lock:
            return self.keys.check(key)

    def ingest(self, events: list[EventIn]) -> dict[str, int]:
        with self._synced():
            return self._ingest(events)

    def trends(self, top: int = 10) -> dict[str, Any]:
        with self._synced():
            return self._trends(top)

    def recommend(
        self, user_id: str, k: int, explore: bool = False, now_us: int | None = None, exclude_seen: bool | None = None
    ) -> dict[str, Any]:
        """Up to k items for the user at now_us (default: the clock); exclude_seen None: the model's default."""
        (out,) = self.recommend_many([RecommendIn(user_id, k, explore, now_us, exclude_seen)])
        if isinstance(out, TiderecError):
            raise out
        return out

    def recommend_many(self, asks: Sequence[RecommendIn]) -> list[dict[str, Any] | TiderecError]:
        """`recommend` for several requests at once (the service's batcher): one sync, one read, one model pass;
        a request that fails gets its error, the others their lists."""
        with self._synced():
            return self._recommend_many(asks)

    def interests(self, user_id: str) -> dict[str, Any]:
        with self._synced():
            return self._interests(user_id)

    def migrations(self, since_us: int | None = None, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
        with self._synced():
            return self._migrations(since_us, cursor, limit)

    def query(self, text: str, user_id: str | None, now_us: int | None = None) -> dict[str, Any]:
        with self._synced():
            return self._query(text, user_id, now_us)

    def upsert_items(self, items: list[ItemIn]) -> dict[str, int]:
        with self._synced():
            return self._upsert_items(items)

    def dashboard(self, user_id: str) -> str:
        with self._synced():
            return self._dashboard(user_id)

    def forget(self, user_id: str) -> bool:
        with self.lock:
            return self._forget(user_id)

    def publish_metrics(self, worker: str, rows: list[tuple[str, int, int, float]]) -> None:
        """This process's request counters (route, status, count, seconds) where every process's are summed."""
        with self.lock, self.db.transaction():
            self.db.executemany(
                "INSERT INTO service_metrics (worker, route, status, n, seconds) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(worker, route, status) DO UPDATE SET n = excluded.n, seconds = excluded.seconds",
                [(worker, *row) for row in rows],
            )

    def metric_totals(self) -> list[tuple[str, int, int, float]]:
        """(route, status, count, seconds) summed over every process that served with this database."""
        with self.lock:
            rows = self.db.query(
                "SELECT route, status, SUM(n), SUM(seconds) FROM service_metrics GROUP BY route, status "
                "ORDER BY route, status"
            )
        return [(str(r), int(st), int(n), float(sec)) for r, st, n, sec in rows]


@dataclass(frozen=True)
class ServedModel:
    """A loaded model with its window encoder, its serving form and version (sha256 prefix of its weights file)."""

    saved: SavedModel
    encoder: WindowEncoder
    version: str
    serving: ServingModel


def served_model(folder: Path, vocab: Vocabulary) -> ServedModel:
    """Load the model folder for serving the catalogue `vocab`: it must load (any failure becomes a one-line
    ConfigError) and its items must be the catalogue's first items, in the same order (trained on this catalogue,
    or on an earlier version of it that later upserts extended)."""
    try:
        saved = load_model(folder)
    except TiderecError:
        raise
    except Exception as exc:
        reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        reason = reason if len(reason) <= 400 else reason[:399] + "…"
        raise ConfigError(f"{folder}: the model does not load ({type(exc).__name__}: {reason})") from None
    ids, catalogue = saved.item_vocab.ids, vocab.ids
    if len(ids) > len(catalogue) or not ids.equals(catalogue.head(len(ids)), check_names=False):
        raise ConfigError(
            f"{folder}: the model's {len(ids):,} items are not the first {len(ids):,} of the served catalogue "
            f"({len(catalogue):,} items); train it on this catalogue"
        )
    encoder = model_encoder(saved.model, int(saved.manifest["max_len"]))
    return ServedModel(saved, encoder, weights_version(folder), ServingModel.of(saved))


def limit_threads(threads: int) -> None:
    """Math threads for everything the service computes (BLAS, torch, faiss's OpenMP). One per process keeps
    latency flat under concurrent requests: measured here, a 3,184 x 448 matrix-vector product took 0.23 ms on one
    OpenBLAS thread and 7.7 ms on two while the other core was busy."""
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def server_secret(folder: Path) -> bytes:
    """The service's secret (created once, owner-readable only) for key hashes and pseudonyms."""
    path = folder / "secret.key"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def secret_folder(db: str | Path, secret_dir: Path | None = None) -> Path:
    """Where the server secret lives: `secret_dir`, else beside a SQLite file, else runs/serve."""
    if secret_dir is not None:
        return secret_dir
    return Path("runs/serve") if is_url(db) else Path(db).parent


@dataclass(frozen=True)
class Learned:
    """What the parent of several workers learns once at start and hands to each worker (pickled at spawn): the
    lasting-move model (None when the log holds too few runs of new interests)."""

    lasting: LastingModel | None


def load_service(
    cleaned_dir: Path,
    db: str | Path,
    model_dir: Path | None = None,
    vectors_dir: Path | None = None,
    intent_dir: Path | None = None,
    secret_dir: Path | None = None,
    index: IndexConfig | None = None,
    learned: Learned | None = None,
) -> Service:
    """Artefacts of the README's main job (cleaned catalogue, vectors, a trained model) + the database (a
    SQLite file or a postgresql:// URL); `index` configures the candidate index. The lasting-move model is learned
    here, before the service answers, unless `learned` hands it over (learned once by the parent of several
    workers, so none of them spends its first seconds of serving on it)."""
    cleaned = read_cleaned(cleaned_dir)
    store_dir = vectors_dir if vectors_dir is not None else cleaned_dir.parent / "vectors"
    vectors_store = (
        read_vectors(store_dir) if vectors_dir is not None or (store_dir / "manifest.json").is_file() else None
    )
    served = served_model(model_dir, cleaned.item_vocab) if model_dir is not None else None
    if vectors_store is None and served is None:
        raise ConfigError(
            f"{store_dir}: no vector store (run `tiderec encode`) and no model (--model): nothing to serve"
        )
    n = len(cleaned.item_vocab)
    vectors = None if vectors_store is None else vectors_store.aligned(cleaned.item_vocab.ids)[0]
    space = serving_space(cleaned.items, vectors)
    frame = cleaned.items.frame
    catalogue = Catalogue(cleaned.item_vocab, [t or "" for t in frame["title"].to_list()],
                          frame["price"].cast(float).fill_null(np.nan).to_numpy(), space)  # fmt: skip
    window = InterestSettings().window
    if served is not None:  # one event more than the model reads: the first one's gap to its predecessor
        window = max(window, served.serving.max_len + 1)
    context = InterestContext(np.zeros((n, 0), dtype=np.float32) if vectors is None else vectors, space.codes,
                              InterestSettings(window=window), encoder=served.encoder if served else None,
                              model_version=served.version if served else "")  # fmt: skip
    indices = cleaned.item_vocab.encode(cleaned.events.frame["item_id"]).drop_nulls().to_numpy()
    popularity = np.bincount(indices, minlength=n).astype(np.float64)
    config = RecommenderConfig(index=index or IndexConfig())
    recommender = Recommender(served.serving if served else None, vectors, catalogue.prices, catalogue.titles, config,
                              popularity=popularity)  # fmt: skip
    secret = server_secret(secret_folder(db, secret_dir))
    store = SQLStateStore(db)
    keys = KeyStore(Database(db), secret)
    understander = None
    if intent_dir is not None:
        tagger = load_tagger(Path(intent_dir).parent / "tagger")  # built beside the intent model by `query build`
        understander = QueryUnderstander(intent_model(intent_dir), Lexicon.of(cleaned.items), tagger)
    query_encoder = None if vectors_store is None else load_encoder(EncoderConfig(name=vectors_store.space.encoder))
    service = Service(catalogue, context, recommender, store, keys, secret, understander, query_encoder, model_dir)
    if learned is None:
        service.learn_lasting(cleaned)
    else:
        service.lasting = learned.lasting
    return service


def _utc(us: int) -> str:
    """A µs timestamp as ISO-8601 UTC, to the second."""
    return str(np.datetime64(us // 1_000_000, "s")) + "Z"


def serving_space(items: Items, vectors: np.ndarray | None) -> InterestSpace:
    """The catalogue's interest space; a catalogue with neither categories nor text vectors has none (every code
    -1: timelines and trends stay empty, recommendations are unaffected)."""
    try:
        return interest_space(items, vectors)
    except DatasetError:
        return InterestSpace(np.full(items.frame.height, -1, dtype=np.int64), [], "none (no categories, no text)")
