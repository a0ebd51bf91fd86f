"""Served = evaluated, measured: the lists a running service gives the leave-one-out test users, side by side with
the lists the batch path (`tiderec evaluate`'s scorer) gives them, scored by the same metric code.

Each test user's history (every event before the test target) is posted to the service as events; the list is
read at the target's time with exploration off and seen items kept (A) or removed (B), as evaluation scores them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiderec.clean.vocab import Vocabulary
from tiderec.data.interactions import Interactions
from tiderec.data.sequences import history_arrays
from tiderec.data.splits import Targets
from tiderec.metrics import RankingMetrics, top_k
from tiderec.models.scorer import Scorer
from tiderec.train.validate import seen_pairs
from tiderec.types import EVENT_TYPES

Fetch = Callable[[str, float, bool, int], list[str]]
"""(user id, now in epoch seconds, exclude_seen, k) -> the served item ids, best first."""


def user_key(user: int) -> str:
    return f"parity-{user}"


def history_batches(
    inter: Interactions, targets: Targets, item_ids: Vocabulary, size: int = 1000
) -> Iterator[list[dict[str, Any]]]:
    """The test users' histories as POST /v1/events bodies' events (at most `size` per batch, users whole where
    they fit, each user's events in time order)."""
    batch: list[dict[str, Any]] = []
    ids = item_ids.ids
    for k in range(len(targets)):
        start = int(inter.offsets[targets.user[k]])
        rows = np.arange(start, start + int(targets.history_len[k]))
        names = ids.gather(inter.item[rows]).to_list()
        for row, name in zip(rows.tolist(), names, strict=True):
            event = {"user_id": user_key(int(targets.user[k])), "item_id": name, "ts": int(inter.ts[row]) / 1e6,
                     "event_type": EVENT_TYPES[int(inter.event_type[row])]}  # fmt: skip
            batch.append(event)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def batch_lists(
    scorer: Scorer, inter: Interactions, targets: Targets, max_len: int, exclude_seen: bool, k: int = 10
) -> np.ndarray:
    """int64[U, k]: the batch path's top-k for each target (scoring (B): the full history's items removed)."""
    arrays = history_arrays(inter, targets, max_len)
    out = np.zeros((len(targets), k), dtype=np.int64)
    for start in range(0, len(targets), 256):
        rows = np.arange(start, min(start + 256, len(targets)))
        scores = scorer.score(arrays.take(rows))
        if exclude_seen:
            seen_rows, seen_items = seen_pairs(inter, targets, rows)
            scores[seen_rows, seen_items] = -np.inf
        out[rows] = top_k(scores, k)
    return out


def served_lists(fetch: Fetch, targets: Targets, vocab: Vocabulary, exclude_seen: bool, k: int = 10) -> np.ndarray:
    """int64[U, k]: the service's lists (item indices; -1 pads a short list or an item the vocabulary lacks)."""
    out = np.full((len(targets), k), -1, dtype=np.int64)
    for row in range(len(targets)):
        ids = fetch(user_key(int(targets.user[row])), int(targets.ts[row]) / 1e6, exclude_seen, k)
        found = [vocab.index_of(i) for i in ids[:k]]
        out[row, : len(found)] = [-1 if f is None else f for f in found]
    return out


def list_metrics(lists: np.ndarray, truth: np.ndarray, n_items: int) -> dict[str, float]:
    """The metric code `tiderec evaluate` runs, over top-k lists int64[U, k] (-1: none): the list's items score
    k..1, every other item -inf (a miss)."""
    u, k = lists.shape
    scores = np.full((u, n_items), -np.inf)
    rows = np.repeat(np.arange(u), k)
    flat = lists.ravel()
    keep = flat >= 0
    scores[rows[keep], flat[keep]] = np.tile(np.arange(k, 0, -1, dtype=np.float64), u)[keep]
    metrics = RankingMetrics(n_items)
    metrics.add(scores, truth)
    return metrics.result()


@dataclass(frozen=True)
class Parity:
    """One scoring's comparison: the share of users whose lists are identical (same items, same order), the mean
    share of items the two lists hold in common, and each side's metrics."""

    identical: float
    overlap: float
    batch: dict[str, float]
    served: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare(batch: np.ndarray, served: np.ndarray, truth: np.ndarray, n_items: int) -> Parity:
    same = (batch == served).all(axis=1)
    common = [
        len(set(b.tolist()) & set(s.tolist()) - {-1}) / batch.shape[1] for b, s in zip(batch, served, strict=True)
    ]
    return Parity(
        float(same.mean()),
        float(np.mean(common)),
        list_metrics(batch, truth, n_items),
        list_metrics(served, truth, n_items),
    )
