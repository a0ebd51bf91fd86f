"""Full-ranking metrics with pessimistic ties: HR@K (= Recall@K for one target), NDCG@K, MRR@K, coverage.

A target ranks below every other item with an equal score, so a model that scores everything alike gets no
credit. Excluded items carry score -inf; a target that is itself excluded counts as a miss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KS: tuple[int, ...] = (5, 10, 20)
MRR_K = 10
COVERAGE_K = 10


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each target in its row of `scores` float[B, N] (pessimistic ties); N + 1 = miss."""
    rows = np.arange(scores.shape[0])
    target_scores = scores[rows, targets][:, None]
    higher = (scores > target_scores).sum(axis=1)
    equal = (scores == target_scores).sum(axis=1) - 1
    ranks = 1 + higher + equal
    out: np.ndarray = np.where(np.isneginf(target_scores[:, 0]), scores.shape[1] + 1, ranks).astype(np.int64)
    return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best items per row, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


@dataclass
class RankingMetrics:
    """Accumulates ranks (and top-k lists for coverage) batch by batch; `result()` gives the table row."""

    n_items: int
    ks: tuple[int, ...] = KS
    ranks: list[np.ndarray] = field(default_factory=list)
    recommended: set[int] = field(default_factory=set)

    def add(self, scores: np.ndarray, targets: np.ndarray) -> None:
        self.ranks.append(target_ranks(scores, targets))
        self.recommended.update(top_k(scores, COVERAGE_K).ravel().tolist())

    def result(self) -> dict[str, float]:
        ranks = np.concatenate(self.ranks) if self.ranks else np.zeros(0, dtype=np.int64)
        return summarize(ranks, self.ks) | {
            f"coverage@{COVERAGE_K}": round(len(self.recommended) / max(self.n_items, 1), 4)
        }


def summarize(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """HR@k, NDCG@k for each k and MRR@10 from 1-based ranks (one relevant item per target)."""
    out: dict[str, float] = {"targets": float(ranks.size)}
    if ranks.size == 0:
        return out
    gains = 1.0 / np.log2(ranks + 1.0)
    for k in ks:
        hit = ranks <= k
        out[f"hr@{k}"] = round(float(hit.mean()), 4)
        out[f"ndcg@{k}"] = round(float(np.where(hit, gains, 0.0).mean()), 4)
    out[f"mrr@{MRR_K}"] = round(float(np.where(ranks <= MRR_K, 1.0 / ranks, 0.0).mean()), 4)
    return out
