"""Short-term interest: which interest (category or cluster) a user turns to next.

`NextInterest` scores every interest for a history as a mix of the history's recency-decayed interest shares
(what the user is into right now), first-order transitions from the last interest (where such users go next)
and global popularity; the mix weights are chosen on validation targets. Baselines: the last event's interest,
and popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tiderec.data.interactions import Interactions
from tiderec.data.splits import Targets


@dataclass(frozen=True)
class Mix:
    recent: float = 1.0
    transition: float = 1.0
    popularity: float = 0.1
    decay: float = 0.8


class NextInterest:
    """Fitted on training rows: interest transition counts and popularity. codes int64[n_items] (-1 none)."""

    def __init__(self, train: Interactions, codes: np.ndarray, n_interests: int) -> None:
        self.codes, self.n = codes, n_interests
        seq = codes[train.item]
        same = (train.user[1:] == train.user[:-1]) & (seq[1:] >= 0) & (seq[:-1] >= 0)
        src, dst = seq[:-1][same], seq[1:][same]
        counts = sp.csr_matrix((np.ones(src.size), (src, dst)), shape=(n_interests, n_interests))
        totals = np.asarray(counts.sum(axis=1)).ravel()
        self.transitions = sp.diags(1.0 / np.maximum(totals, 1.0)) @ counts
        pop = np.bincount(seq[seq >= 0], minlength=n_interests).astype(float)
        self.popularity = pop / max(pop.sum(), 1.0)

    def scores(self, histories: list[np.ndarray], mix: Mix) -> np.ndarray:
        """float[B, n_interests] for histories of item indices (oldest first)."""
        out = np.tile(mix.popularity * self.popularity, (len(histories), 1))
        for b, items in enumerate(histories):
            seq = self.codes[items]
            seq = seq[seq >= 0][-50:]
            if len(seq) == 0:
                continue
            w = mix.decay ** np.arange(len(seq) - 1, -1, -1)
            out[b] += mix.recent * np.bincount(seq, weights=w, minlength=self.n) / w.sum()
            out[b] += mix.transition * self.transitions[seq[-1]].toarray().ravel()
        return out

    def last_interest(self, histories: list[np.ndarray]) -> np.ndarray:
        """Baseline scores: the last known interest first, then popularity."""
        out = np.tile(self.popularity, (len(histories), 1))
        for b, items in enumerate(histories):
            seq = self.codes[items]
            seq = seq[seq >= 0]
            if len(seq):
                out[b, seq[-1]] += 1.0
        return out


def histories_of(inter: Interactions, targets: Targets) -> list[np.ndarray]:
    return [targets.history(inter, k) for k in range(len(targets))]


def top_k_accuracy(scores: np.ndarray, truth: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Share of rows whose true interest is among the k best (ties broken against the truth)."""
    true_scores = scores[np.arange(len(truth)), truth]
    rank = (scores > true_scores[:, None]).sum(axis=1) + (scores == true_scores[:, None]).sum(axis=1) - 1
    return {f"top{k}": float((rank < k).mean()) for k in ks}


def choose_mix(model: NextInterest, histories: list[np.ndarray], truth: np.ndarray) -> Mix:
    """The mix with the best validation top-1 accuracy over a small grid."""
    grid = [
        Mix(recent=r, transition=t, popularity=p, decay=d)
        for r in (0.0, 0.5, 1.0, 2.0)
        for t in (0.0, 0.5, 1.0)
        for p in (0.05, 0.2)
        for d in (0.5, 0.8, 0.95)
        if r or t
    ]
    return max(grid, key=lambda m: (top_k_accuracy(model.scores(histories, m), truth)["top1"], -m.recent))
