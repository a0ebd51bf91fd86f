"""Leak-freedom of the splits: no input event at or after its target's time; hand-checked small cases."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import T0, events
from tiderec.data.interactions import Interactions
from tiderec.data.splits import Split, Targets, TemporalConfig, leave_one_out, temporal_split
from tiderec.errors import DatasetError


def assert_leak_free(split: Split, targets: Targets) -> None:
    inter = split.interactions
    for k in range(len(targets)):
        start = inter.offsets[targets.user[k]]
        history_ts = inter.ts[start : start + targets.history_len[k]]
        assert (history_ts < targets.ts[k]).all(), "an input event is at or after its target's time"
        assert targets.history_len[k] >= 1
        assert inter.item[targets.row[k]] == targets.item[k]
        later = inter.ts[start + targets.history_len[k] : targets.row[k]]
        assert (later >= targets.ts[k]).all(), "a strictly earlier event was left out of the input"


def test_leave_one_out_on_a_small_log() -> None:
    inter = Interactions.from_events(
        events([("u", "a", 0), ("u", "b", 1), ("u", "c", 2), ("u", "d", 3), ("v", "a", 0), ("v", "b", 1)])
    )
    split = leave_one_out(inter)

    def item(raw: str) -> int:
        index = inter.item_vocab.index_of(raw)
        assert index is not None
        return index

    assert split.test.item.tolist() == [item("d")]
    assert split.valid.item.tolist() == [item("c")]
    assert split.test.history(inter, 0).tolist() == [item("a"), item("b"), item("c")]
    assert split.valid.history(inter, 0).tolist() == [item("a"), item("b")]
    assert sorted(split.train.item.tolist()) == sorted([item("a"), item("b"), item("a"), item("b")])
    assert split.info["users_too_short"] == 1
    assert len(split.train_with_valid()) == len(split.train) + 1


def test_leave_one_out_excludes_same_time_basket_items() -> None:
    inter = Interactions.from_events(events([("u", "a", 0), ("u", "b", 5), ("u", "c", 5), ("u", "d", 5)]))
    split = leave_one_out(inter)
    assert split.test.history_len.tolist() == [1]
    assert split.valid.history_len.tolist() == [1]
    assert_leak_free(split, split.test)


def test_targets_without_history_are_dropped_and_counted() -> None:
    inter = Interactions.from_events(events([("u", "a", 0), ("u", "b", 0), ("u", "c", 0)]))
    split = leave_one_out(inter)
    assert len(split.test) == 0
    assert split.info["targets_without_history"] == 2


def test_too_short_everywhere_is_an_error() -> None:
    with pytest.raises(DatasetError, match="at least 3 events"):
        leave_one_out(Interactions.from_events(events([("u", "a", 0), ("u", "b", 1)])))


def test_temporal_split_with_explicit_cuts() -> None:
    rows = [("u", "a", 0), ("u", "b", 10), ("u", "c", 20), ("u", "d", 30), ("v", "a", 5), ("v", "e", 25)]
    inter = Interactions.from_events(events(rows))
    cfg = TemporalConfig(valid_start=T0 + timedelta(minutes=15), test_start=T0 + timedelta(minutes=22))
    split = temporal_split(inter, cfg)

    def item(raw: str) -> int:
        index = inter.item_vocab.index_of(raw)
        assert index is not None
        return index

    assert sorted(split.train.item.tolist()) == sorted([item("a"), item("b"), item("a")])
    assert split.valid.item.tolist() == [item("c")]
    assert sorted(split.test.item.tolist()) == sorted([item("d"), item("e")])
    assert (split.train.ts < int((T0 + timedelta(minutes=15)).timestamp() * 1e6)).all()
    first = temporal_split(
        inter, TemporalConfig(valid_start=cfg.valid_start, test_start=cfg.test_start, targets="first")
    )
    assert len(first.test) == 2
    assert_leak_free(split, split.test)


def test_temporal_split_errors() -> None:
    inter = Interactions.from_events(events([("u", "a", 0), ("u", "b", 10)]))
    with pytest.raises(DatasetError, match="no event before"):
        temporal_split(inter, TemporalConfig(valid_start=T0 - timedelta(days=1), test_start=T0))
    with pytest.raises(DatasetError, match="no event after"):
        temporal_split(inter, TemporalConfig(valid_start=T0 + timedelta(minutes=5), test_start=T0 + timedelta(days=1)))


logs = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(0, 12)), min_size=3, max_size=60)


@settings(max_examples=150, deadline=None)
@given(logs)
def test_leave_one_out_is_leak_free_on_random_logs_with_ties(rows: list[tuple[int, int, int]]) -> None:
    inter = Interactions.from_events(events([(f"u{u}", f"i{i}", t) for u, i, t in rows]))
    if (inter.lengths() < 3).all():
        return
    split = leave_one_out(inter)
    assert_leak_free(split, split.valid)
    assert_leak_free(split, split.test)
    train_rows = set(split.train_rows.tolist())
    assert not train_rows & set(split.test.row.tolist())
    assert not train_rows & set(split.valid.row.tolist())


@settings(max_examples=150, deadline=None)
@given(logs, st.sampled_from(["all", "first"]))
def test_temporal_split_is_leak_free_on_random_logs(rows: list[tuple[int, int, int]], mode: str) -> None:
    inter = Interactions.from_events(events([(f"u{u}", f"i{i}", t) for u, i, t in rows]))
    cfg = TemporalConfig(valid_start=T0 + timedelta(minutes=5), test_start=T0 + timedelta(minutes=9), targets=mode)  # type: ignore[arg-type]
    try:
        split = temporal_split(inter, cfg)
    except DatasetError:
        return
    valid_cut = int((T0 + timedelta(minutes=5)).timestamp() * 1e6)
    assert (split.train.ts < valid_cut).all()
    assert (split.valid.ts >= valid_cut).all()
    assert (split.test.ts >= int((T0 + timedelta(minutes=9)).timestamp() * 1e6)).all()
    assert_leak_free(split, split.valid)
    assert_leak_free(split, split.test)
    assert np.unique(split.test.row).size == len(split.test)
