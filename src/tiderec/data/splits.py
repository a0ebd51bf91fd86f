"""Leak-free splits: leave-one-out per user and a global temporal split.

A target is (user, true item, time) plus `history_len`: the model's input for it is the first
`history_len` events of the user in `Split.interactions`, and every one of them happened strictly before
the target's time. Events sharing the target's timestamp (e.g. the rest of its basket) are never input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

import numpy as np

from tiderec.config import STRICT
from tiderec.data.interactions import Interactions
from tiderec.errors import DatasetError


@dataclass(frozen=True)
class Targets:
    """Prediction targets; all arrays int64[m]. `row` is the target's row in `Split.interactions`."""

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    row: np.ndarray
    history_len: np.ndarray

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def take(self, rows: np.ndarray) -> Targets:
        """The targets at `rows` (indices or a boolean mask)."""
        return Targets(self.user[rows], self.item[rows], self.ts[rows], self.row[rows], self.history_len[rows])

    def history(self, interactions: Interactions, k: int) -> np.ndarray:
        """The item indices the model may see for target k (oldest first)."""
        start = interactions.offsets[self.user[k]]
        return interactions.item[start : start + self.history_len[k]]


@dataclass(frozen=True)
class Split:
    """All interactions, the rows used for training, and validation/test targets with their input prefixes."""

    protocol: str
    interactions: Interactions
    train_rows: np.ndarray  # int64[n_train]: rows of `interactions` available for fitting
    valid: Targets
    test: Targets
    info: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def train(self) -> Interactions:
        """The training rows as their own Interactions (same vocabularies)."""
        return self.interactions.take(self._mask(self.train_rows))

    def train_with_valid(self) -> Interactions:
        """Training rows plus the validation targets, for refitting before the final test."""
        return self.interactions.take(self._mask(self.train_rows, self.valid.row))

    def _mask(self, *rows: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(self.interactions), dtype=bool)
        for r in rows:
            mask[r] = True
        return mask


def _targets(inter: Interactions, rows: np.ndarray) -> Targets:
    """Targets at `rows`, each with the prefix of strictly earlier events of its user as history."""
    rows = np.asarray(rows, dtype=np.int64)
    n = len(inter)
    index = np.arange(n, dtype=np.int64)
    new_instant = np.ones(n, dtype=bool)
    new_instant[1:] = (inter.user[1:] != inter.user[:-1]) | (inter.ts[1:] != inter.ts[:-1])
    instant_start = np.maximum.accumulate(np.where(new_instant, index, 0))
    user = inter.user[rows]
    history_len = instant_start[rows] - inter.offsets[user]
    return Targets(user, inter.item[rows], inter.ts[rows], rows, history_len)


def _keep_with_history(targets: Targets) -> tuple[Targets, int]:
    keep = targets.history_len > 0
    dropped = int((~keep).sum())
    if dropped == 0:
        return targets, 0
    return (
        Targets(
            targets.user[keep],
            targets.item[keep],
            targets.ts[keep],
            targets.row[keep],
            targets.history_len[keep],
        ),
        dropped,
    )


def leave_one_out(inter: Interactions) -> Split:
    """Per user: last event = test target, second-to-last = validation target, the rest = training.

    Users with fewer than 3 events only contribute training rows; targets whose history would be empty
    (every earlier event shares their timestamp) are dropped. Both are counted in `info`.
    """
    lengths = inter.lengths()
    eligible = np.flatnonzero(lengths >= 3)
    if eligible.size == 0:
        raise DatasetError("leave-one-out needs users with at least 3 events; none has")
    test_rows = inter.offsets[eligible + 1] - 1
    valid_rows = test_rows - 1
    train_mask = np.ones(len(inter), dtype=bool)
    train_mask[test_rows] = False
    train_mask[valid_rows] = False
    valid, valid_empty = _keep_with_history(_targets(inter, valid_rows))
    test, test_empty = _keep_with_history(_targets(inter, test_rows))
    info = {
        "users": int(inter.n_users),
        "users_too_short": int((lengths < 3).sum()),
        "valid_targets": len(valid),
        "test_targets": len(test),
        "targets_without_history": valid_empty + test_empty,
    }
    return Split("leave-one-out", inter, np.flatnonzero(train_mask), valid, test, info)


@dataclass(frozen=True)
class TemporalConfig:
    """Global temporal split: train before valid_start, validate in [valid_start, test_start), test after.

    Unset cut times are taken at quantiles of event time so that the last `test_fraction` (and the
    `valid_fraction` before it) of events fall after the cuts. targets="first": each user's first event of
    the period; "all": every event of the period (history grows with the stream, never past the target).
    """

    __pydantic_config__ = STRICT

    valid_start: datetime | None = None
    test_start: datetime | None = None
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    targets: Literal["first", "all"] = "all"


def temporal_split(inter: Interactions, config: TemporalConfig | None = None) -> Split:
    """Split at global cut times; see TemporalConfig. Targets without any earlier event are dropped."""
    cfg = config or TemporalConfig()
    if len(inter) == 0:
        raise DatasetError("temporal split of an empty interaction set")
    test_cut = _cut(inter, cfg.test_start, 1.0 - cfg.test_fraction)
    valid_cut = _cut(inter, cfg.valid_start, 1.0 - cfg.test_fraction - cfg.valid_fraction)
    if not valid_cut <= test_cut:
        raise DatasetError("temporal split: valid_start must not be after test_start")
    train_mask = inter.ts < valid_cut
    if not train_mask.any():
        raise DatasetError("temporal split: no event before the validation cut; move the cut later")
    valid_rows = _period_rows(inter, valid_cut, test_cut, cfg.targets)
    test_rows = _period_rows(inter, test_cut, None, cfg.targets)
    if test_rows.size == 0:
        raise DatasetError("temporal split: no event after the test cut; move the cut earlier")
    valid, valid_empty = _keep_with_history(_targets(inter, valid_rows))
    test, test_empty = _keep_with_history(_targets(inter, test_rows))
    info = {
        "valid_start": _iso(valid_cut),
        "test_start": _iso(test_cut),
        "valid_targets": len(valid),
        "test_targets": len(test),
        "targets_without_history": valid_empty + test_empty,
        "test_items_unseen_in_train": int(np.setdiff1d(test.item, inter.item[train_mask]).size),
    }
    return Split("temporal", inter, np.flatnonzero(train_mask), valid, test, info)


def _cut(inter: Interactions, given: datetime | None, quantile: float) -> int:
    if given is not None:
        when = given.replace(tzinfo=UTC) if given.tzinfo is None else given
        return int(when.timestamp() * 1_000_000)
    if not 0.0 < quantile < 1.0:
        raise DatasetError(f"temporal split: fractions leave quantile {quantile:.3f}, expected in (0, 1)")
    return int(np.quantile(inter.ts, quantile, method="higher"))


def _period_rows(inter: Interactions, start: int, end: int | None, mode: str) -> np.ndarray:
    in_period = inter.ts >= start
    if end is not None:
        in_period &= inter.ts < end
    rows = np.flatnonzero(in_period)
    if mode == "all" or rows.size == 0:
        return rows
    _, first = np.unique(inter.user[rows], return_index=True)
    return np.sort(rows[first])


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).isoformat()
