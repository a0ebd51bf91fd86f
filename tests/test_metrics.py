"""Ranking metrics against hand-computed cases, ties included (pessimistic)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tiderec.metrics import RankingMetrics, summarize, target_ranks, top_k


def test_ranks_are_pessimistic_on_ties_and_excluded_targets_miss() -> None:
    scores = np.array(
        [
            [0.1, 0.9, 0.5, 0.5],  # target 2 ties with item 3 -> rank 3
            [1.0, 1.0, 1.0, 1.0],  # all equal -> last
            [0.3, -np.inf, 0.2, 0.1],  # target excluded -> miss (N + 1)
            [0.0, 0.0, 0.9, 0.1],  # clear winner
        ]
    )
    assert target_ranks(scores, np.array([2, 0, 1, 2])).tolist() == [3, 4, 5, 1]


def test_summary_values() -> None:
    ranks = np.array([1, 3, 11, 5])
    out = summarize(ranks, ks=(5, 10))
    assert out["hr@5"] == 0.75
    assert out["hr@10"] == 0.75
    expected = (1 + 1 / math.log2(4) + 1 / math.log2(6)) / 4
    assert out["ndcg@10"] == pytest.approx(expected, abs=1e-4)
    assert out["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 5) / 4, abs=1e-4)


def test_top_k_and_coverage() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.9, 0.1, 0.2, 0.3]])
    assert top_k(scores, 2).tolist() == [[1, 3], [0, 3]]
    metrics = RankingMetrics(n_items=4, ks=(1,))
    metrics.add(scores, np.array([1, 2]))
    result = metrics.result()
    assert result["hr@1"] == 0.5
    assert result["coverage@10"] == 1.0
