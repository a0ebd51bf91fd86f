"""Padded sequence arrays for sequential models: training windows and prediction histories.

Sequences are left-padded to `max_len` (the newest event sits at the last position). Item ids are shifted
by one so that 0 means padding; event types likewise; time gaps are log-bucketed (see `gap_bucket`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tiderec.data.interactions import Interactions
from tiderec.data.splits import Targets

PAD = 0
IGNORE = -100
GAP_FIRST = 1
"""Gap bucket of a user's first event (no previous event)."""
GAP_SAME = 2
"""Gap bucket of an event at the same instant as the previous one (e.g. the rest of a basket)."""
GAP_BUCKETS = 32
"""Number of gap ids, padding included: 0 pad, 1 first, 2 same instant, 3.. = 3 + floor(log2(seconds))."""


def gap_bucket(gap_us: np.ndarray) -> np.ndarray:
    """Bucket ids for gaps in microseconds (int64); negative gaps count as 'same instant'."""
    seconds = np.maximum(gap_us, 0) / 1_000_000
    buckets = np.where(seconds < 1.0, GAP_SAME, 3 + np.floor(np.log2(np.maximum(seconds, 1.0))).astype(np.int64))
    return np.minimum(buckets, GAP_BUCKETS - 1).astype(np.int64)


FIELDS = ("items", "event_types", "gaps", "next_gaps", "targets")
"""The fields of SequenceArrays, in order."""


@dataclass(frozen=True)
class SequenceArrays:
    """A batch of left-padded sequences, all int64[B, T].

    items: item index + 1 (0 = pad); event_types: type index + 1; gaps: gap bucket of each event since the
    previous one; next_gaps: bucket of the time from each event to the next one (for the last position: to
    the prediction moment); targets: the next item index at each position (IGNORE where none).
    """

    items: np.ndarray
    event_types: np.ndarray
    gaps: np.ndarray
    next_gaps: np.ndarray
    targets: np.ndarray

    @classmethod
    def empty(cls, n: int, max_len: int) -> SequenceArrays:
        """n rows of padding (targets IGNORE), to be filled from the right."""
        shape = (n, max_len)
        z = np.zeros
        return cls(
            z(shape, np.int64), z(shape, np.int64), z(shape, np.int64), z(shape, np.int64), np.full(shape, IGNORE)
        )

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def take(self, rows: np.ndarray) -> SequenceArrays:
        return SequenceArrays(
            self.items[rows], self.event_types[rows], self.gaps[rows], self.next_gaps[rows], self.targets[rows]
        )

    def trimmed(self) -> SequenceArrays:
        """The batch without its leading columns that are padding in every row (left padding: a batch of short
        histories then costs the model its longest history, not max_len). Keeps at least one column."""
        width = max(int((self.items > 0).sum(axis=1).max(initial=0)), 1)
        if width == self.items.shape[1]:
            return self
        return SequenceArrays(*(np.ascontiguousarray(getattr(self, name)[:, -width:]) for name in FIELDS))

    def to_arrow(self) -> pa.Table:
        """One row per sequence, each field a fixed-size int64 list column (plain Parquet, readable anywhere)."""
        width = self.items.shape[1]
        return pa.table(
            {name: pa.FixedSizeListArray.from_arrays(pa.array(getattr(self, name).ravel()), width) for name in FIELDS}
        )

    @classmethod
    def from_arrow(cls, table: pa.Table) -> SequenceArrays:
        """The inverse of `to_arrow` (writable copies)."""
        n = table.num_rows
        return cls(
            *(np.array(table.column(name).combine_chunks().flatten().to_numpy().reshape(n, -1)) for name in FIELDS)
        )


def event_gaps(ts: np.ndarray) -> np.ndarray:
    """Gap bucket of each event of one user's time-ordered ts (microseconds) since the previous one."""
    gaps = np.empty(ts.shape[0], dtype=np.int64)
    if ts.shape[0]:
        gaps[0] = GAP_FIRST
        gaps[1:] = gap_bucket(np.diff(ts))
    return gaps


def training_windows(inter: Interactions, max_len: int) -> SequenceArrays:
    """Every user's events as windows of max_len + 1 (the last window ends at the newest event; earlier ones
    tile the rest), inputs = events 0..L-1, targets = events 1..L. Users with one event give nothing."""
    rows: list[tuple[int, int]] = []
    for user in range(inter.n_users):
        start, end = int(inter.offsets[user]), int(inter.offsets[user + 1])
        stop = end
        while stop - start >= 2:
            first = max(start, stop - max_len - 1)
            rows.append((first, stop))
            stop = first + 1
    out = SequenceArrays.empty(len(rows), max_len)
    gaps_all = np.empty(len(inter), dtype=np.int64)
    for user in range(inter.n_users):
        a, b = int(inter.offsets[user]), int(inter.offsets[user + 1])
        gaps_all[a:b] = event_gaps(inter.ts[a:b])
    for k, (first, stop) in enumerate(rows):
        length = stop - first - 1
        inputs = slice(first, stop - 1)
        outputs = slice(first + 1, stop)
        out.items[k, -length:] = inter.item[inputs] + 1
        out.event_types[k, -length:] = inter.event_type[inputs].astype(np.int64) + 1
        out.gaps[k, -length:] = gaps_all[inputs]
        out.next_gaps[k, -length:] = gap_bucket(inter.ts[outputs] - inter.ts[inputs])
        out.targets[k, -length:] = inter.item[outputs]
    return out


def prefix_windows(inter: Interactions, max_len: int) -> SequenceArrays:
    """One window per event that has a predecessor: its last max_len predecessors, the event as the target at the
    last slot (for models whose states only predict at the window's end; see SequenceModel.causal)."""
    counts = np.diff(inter.offsets)
    user = np.repeat(np.arange(inter.n_users, dtype=np.int64), counts)
    history_len = np.arange(len(inter), dtype=np.int64) - inter.offsets[user]
    rows = np.flatnonzero(history_len > 0)
    targets = Targets(user[rows], inter.item[rows].astype(np.int64), inter.ts[rows], rows, history_len[rows])
    return history_arrays(inter, targets, max_len)


def history_arrays(inter: Interactions, targets: Targets, max_len: int) -> SequenceArrays:
    """The model input for each target: the last max_len events of its history (strictly earlier events),
    with the gap from the last one to the target's time; `targets` holds the target item at the last slot."""
    n = len(targets)
    out = SequenceArrays.empty(n, max_len)
    for k in range(n):
        start = int(inter.offsets[targets.user[k]])
        end = start + int(targets.history_len[k])
        first = max(start, end - max_len)
        length = end - first
        if length == 0:
            continue
        ts = inter.ts[start:end]
        gaps = event_gaps(ts)[-length:]
        out.items[k, -length:] = inter.item[first:end] + 1
        out.event_types[k, -length:] = inter.event_type[first:end].astype(np.int64) + 1
        out.gaps[k, -length:] = gaps
        following = np.append(inter.ts[first + 1 : end], targets.ts[k])
        out.next_gaps[k, -length:] = gap_bucket(following - inter.ts[first:end])
        out.targets[k, -1] = targets.item[k]
    return out
