from __future__ import annotations

import numpy as np

from tests.conftest import events
from tiderec.data.interactions import Interactions
from tiderec.data.sequences import (
    GAP_FIRST,
    GAP_SAME,
    IGNORE,
    gap_bucket,
    history_arrays,
    prefix_windows,
    training_windows,
)
from tiderec.data.splits import leave_one_out


def test_gap_buckets() -> None:
    seconds = np.array([0, 0.5, 1, 2, 3, 60, 3600, 10**9]) * 1_000_000
    buckets = gap_bucket(seconds.astype(np.int64))
    assert buckets[:2].tolist() == [GAP_SAME, GAP_SAME]
    assert buckets[2] == 3
    assert (np.diff(buckets) >= 0).all()
    assert buckets[-1] == 31


def test_training_windows_tile_long_users_and_predict_every_later_event() -> None:
    inter = Interactions.from_events(
        events([("u", f"i{k}", k) for k in range(7)] + [("v", "i0", 0), ("w", "i1", 0), ("w", "i2", 5)])
    )
    windows = training_windows(inter, max_len=3)
    targets = windows.targets[windows.targets != IGNORE]
    u_items = inter.items_of(0)
    assert sorted(targets.tolist()) == sorted([*u_items[1:].tolist(), inter.items_of(2)[1]])
    first = windows.items[0]
    assert (first > 0).sum() <= 3
    assert windows.gaps[windows.items > 0].min() >= GAP_FIRST


def test_prefix_windows_predict_each_later_event_from_its_last_predecessors_only() -> None:
    inter = Interactions.from_events(
        events([("u", f"i{k}", k) for k in range(5)] + [("v", "i0", 0), ("w", "i1", 0), ("w", "i2", 5)])
    )
    windows = prefix_windows(inter, max_len=3)
    assert len(windows) == 4 + 1  # u's events 1..4, w's second event; v has nothing to predict
    assert (windows.targets[:, :-1] == IGNORE).all()
    u = inter.items_of(0)
    assert windows.targets[:4, -1].tolist() == u[1:].tolist()
    assert (windows.items[3][windows.items[3] > 0] - 1).tolist() == u[1:4].tolist()  # the last 3 before event 4
    assert (windows.items[0][windows.items[0] > 0] - 1).tolist() == u[:1].tolist()


def test_history_arrays_hold_exactly_the_strictly_earlier_events() -> None:
    inter = Interactions.from_events(
        events([("u", "a", 0), ("u", "b", 5), ("u", "c", 5), ("u", "d", 9), ("u", "e", 12)])
    )
    split = leave_one_out(inter)
    arrays = history_arrays(inter, split.test, max_len=4)
    history = split.test.history(inter, 0)
    assert (arrays.items[0][arrays.items[0] > 0] - 1).tolist() == history.tolist()
    assert arrays.targets[0, -1] == split.test.item[0]
    assert arrays.next_gaps[0, -1] == gap_bucket(np.array([3 * 60 * 1_000_000]))[0]


def test_trimmed_drops_only_columns_that_are_padding_in_every_row() -> None:
    inter = Interactions.from_events(
        events([("u", "a", 0), ("u", "b", 5), ("u", "c", 7), ("v", "a", 1), ("v", "b", 2), ("v", "c", 3)])
    )
    arrays = history_arrays(inter, leave_one_out(inter).test, max_len=6)
    trimmed = arrays.trimmed()
    assert trimmed.items.shape == (2, 2)
    for name in ("items", "event_types", "gaps", "next_gaps", "targets"):
        np.testing.assert_array_equal(getattr(trimmed, name), getattr(arrays, name)[:, -2:])
    assert (arrays.items[:, :-2] == 0).all()
    assert trimmed.trimmed() is trimmed
    empty = arrays.take(np.array([0]))
    empty.items[:] = 0
    assert empty.trimmed().items.shape == (1, 1)
