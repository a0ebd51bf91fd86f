from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays
from tiderec.evaluation.replay import (
    ReplayConfig,
    ReplayStream,
    Scorer,
    ab_replay,
    build_stream,
    hit_rate_difference,
    replay,
)
from tiderec.explore.assign import ExperimentConfig, assign
from tiderec.explore.greedy import EpsilonConfig, EpsilonGreedy, Greedy
from tiderec.explore.uncertainty import interest_uncertainty
from tiderec.types import Events

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HISTORIES = {"a": [0, 1, 2, 3, 5], "b": [0, 1, 2, 6, 7, 8]}


def _world() -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Items i0-i4 are category 0, i5-i9 category 1; the scorer predicts item (last + 1) mod 10."""
    rows = [
        (user, f"i{item}", T0 + timedelta(hours=h), "view")
        for user, items in HISTORIES.items()
        for h, item in enumerate(items)
    ]
    rows += [("c", f"i{i}", T0 - timedelta(days=1), "view") for i in range(10)]
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "ts", "event_type"], orient="row")
    inter = Interactions.from_events(Events.from_frame(frame, {"source": "test"}))
    raw = np.array([int(i[1:]) for i in inter.item_vocab.ids.to_list()])
    index_of = np.argsort(raw)
    categories = (raw >= 5).astype(np.int64)
    successor = index_of[(raw + 1) % 10]
    return inter, categories, successor


def _scorer(successor: np.ndarray) -> Scorer:
    def score(arrays: SequenceArrays) -> np.ndarray:
        out = np.zeros((len(arrays), len(successor)))
        last = arrays.items[:, -1] - 1
        out[np.arange(len(arrays)), successor[last]] = 1.0
        return out

    return score


def _stream(inter: Interactions, categories: np.ndarray, successor: np.ndarray, config: ReplayConfig) -> ReplayStream:
    start = int((T0 + timedelta(hours=1)).timestamp() * 1e6)
    return build_stream(inter, categories, start, _scorer(successor), config)


def test_replay_counts_hits_and_new_interest_delays() -> None:
    inter, categories, successor = _world()
    config = ReplayConfig(k=1, candidates=3, min_history=3, horizon=5)
    stream = _stream(inter, categories, successor, config)
    assert len(stream) == 9
    assert int(stream.new_interest.sum()) == 2
    (result,) = replay(stream, {"greedy": Greedy()}, categories, config)
    assert result.item_hits == 7
    assert result.category_hits == 7
    assert result.onsets == 2
    assert result.delays == [1]
    summary = result.summary(config.horizon)
    assert summary["new_interest_served_next"] == 0.5
    assert summary["new_interest_anticipated"] == 0.0
    assert summary["new_interest_mean_delay"] == pytest.approx((1 + 6) / 2)
    assert summary["cumulative_item_hits_by_decile"][-1] == 7


def test_replay_uncertainty_is_the_history_signal() -> None:
    inter, categories, successor = _world()
    config = ReplayConfig(k=1, candidates=3)
    stream = _stream(inter, categories, successor, config)
    a = inter.user_vocab.ids.to_list().index("a")
    first_a = int(np.flatnonzero(stream.user == a)[0])
    assert stream.uncertainty[first_a] == pytest.approx(interest_uncertainty(np.array([0])))
    assert stream.uncertainty[first_a] == pytest.approx(10 / 11)


def test_paired_difference_and_ab_replay() -> None:
    inter, categories, successor = _world()
    config = ReplayConfig(k=2, candidates=4)
    stream = _stream(inter, categories, successor, config)
    greedy, explorer = replay(stream, {"g": Greedy(), "e": EpsilonGreedy(EpsilonConfig(1.0, 1.0))}, categories, config)
    diff, low, high = hit_rate_difference(explorer, greedy, stream.user, n_boot=200)
    assert diff == pytest.approx((explorer.item_hits - greedy.item_hits) / len(stream))
    assert low <= diff <= high
    exp = ExperimentConfig(name="t", variants=("g", "e"))
    users, items = inter.user_vocab.ids.to_list(), inter.item_vocab.ids.to_list()
    rows = ab_replay(stream, exp, {"g": Greedy(), "e": Greedy()}, b"k", users, items, categories, config)
    assert len(rows) == 2 * len(stream)
    for row in rows:
        assert row.variant == assign(exp, b"k", row.user_id)
    assert {row.ts_us + 1 for row in rows} <= set(stream.ts.tolist())
