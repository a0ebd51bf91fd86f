"""The recovery benchmark's own pieces: histories with change points, strictly earlier inputs, the positions guard."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import polars as pl
import pytest
from benchmarks.bench_recovery import (
    COLOURS,
    LastInterest,
    at_change,
    first_reaching,
    parse,
    pseudo_interactions,
    pseudo_targets,
    splices,
    svg,
)

from tiderec.clean.vocab import Vocabulary
from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays
from tiderec.dynamics.splice import B_EVENTS, dominant


def interactions(items: list[list[int]], n_items: int, ts: list[list[int]] | None = None) -> Interactions:
    """Users with the given item sequences (times 0, 1, 2, ... unless given)."""
    times = ts or [list(range(len(seq))) for seq in items]
    lengths = np.array([len(seq) for seq in items])
    return Interactions(
        np.repeat(np.arange(len(items)), lengths).astype(np.int64),
        np.concatenate(items).astype(np.int64),
        np.concatenate(times).astype(np.int64),
        np.zeros(lengths.sum(), dtype=np.int8),
        np.full(lengths.sum(), np.nan, dtype=np.float32),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        Vocabulary.from_ids(pl.Series([f"u{i}" for i in range(len(items))])),
        Vocabulary.from_ids(pl.Series([f"i{i}" for i in range(n_items)])),
    )


def test_more_positions_than_a_lasting_move_holds_is_refused() -> None:
    with pytest.raises(SystemExit, match="--positions 11: a real lasting move holds 10 events"):
        parse(["--positions", "11"])
    assert parse(["--positions", "10"]).keys == ["or5", "taobao"]


def test_splices_join_users_whose_dominant_interests_differ() -> None:
    codes = np.array([0, 0, 1, 1])
    inter = interactions(
        [[0, 1] * 20, [2, 3] * 20, [0] * 25], n_items=4, ts=[list(range(40)), list(range(40)), list(range(25))]
    )
    cases = splices(inter, codes, [0, 1, 2], n=30, positions=3, rng=np.random.default_rng(0))
    for case in cases:
        first = inter.user[case.curve.rows[0]]
        change = int(case.curve.targets[0])
        second = inter.user[case.curve.rows[change]]
        assert dominant(codes[inter.item[case.curve.rows[:change]]]) != dominant(
            codes[inter.item[case.curve.rows[change:]]]
        )
        assert (inter.user[case.curve.rows[:change]] == first).all()
        assert len(case.curve.rows) - change <= B_EVENTS
        assert case.steady is not None
        assert (inter.user[case.steady.rows] == second).all()
        assert list(case.steady.targets) == [1, 2, 3]
        moved = inter.ts[case.curve.rows] + case.curve.shift
        assert (np.diff(moved) > 0).all()


def test_steady_state_needs_the_positions_after_the_curve() -> None:
    rows = np.arange(30)
    assert at_change(rows, 10, 10).steady is not None
    case = at_change(rows, 11, 10)
    assert case.steady is None
    assert list(case.curve.targets) == list(range(11, 21))


def test_targets_read_only_strictly_earlier_events() -> None:
    inter = interactions([[0, 1, 2, 3]], n_items=4, ts=[[0, 5, 5, 9]])
    case = at_change(np.arange(4), 1, 3)
    pseudo = pseudo_interactions(inter, [case.curve])
    targets = pseudo_targets(pseudo, [case.curve])
    assert list(targets.item) == [1, 2, 3]
    assert list(targets.history_len) == [1, 1, 3]


def test_first_position_reaching_the_steady_state() -> None:
    assert first_reaching([0.0, 0.1, 0.5, 0.4], 0.5) == 3
    assert first_reaching([0.0, 0.1], 0.5) is None
    assert first_reaching([0.3], 0.0) is None


def test_last_interest_ranks_the_last_events_interest_first() -> None:
    inter = interactions([[0, 0, 0, 1, 2]], n_items=4)
    scorer = LastInterest(inter, np.array([0, 0, 1, 1]))
    arrays = SequenceArrays.empty(1, 3)
    arrays.items[0, -1] = 3 + 1
    order = np.argsort(-scorer.score(arrays)[0], kind="stable")
    assert list(order[:2]) == [2, 3]
    assert list(order[2:]) == [0, 1]


def test_svg_is_well_formed_with_a_line_per_model() -> None:
    model = {"hr@10": [0.1, 0.2], "ndcg@10": [0.05, 0.1]}
    kinds = {k: {"histories": 3, "models": dict.fromkeys(COLOURS, model)} for k in ("splice", "move", "control")}
    root = ET.fromstring(svg({"or5": {"kinds": kinds}}, 2))
    lines = [e for e in root.iter("{http://www.w3.org/2000/svg}polyline") if e.get("stroke") != "black"]
    assert len(lines) == 3 * len(COLOURS)
