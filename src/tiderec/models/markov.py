"""First-order Markov baseline: P(next item | last item) from consecutive training pairs, popularity as the
tie-breaker (a tiny weight), so that every item gets a defined rank."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays


class Markov:
    name = "markov"

    def __init__(self, train: Interactions) -> None:
        self.n_items = n = train.n_items
        same_user = train.user[1:] == train.user[:-1]
        src, dst = train.item[:-1][same_user], train.item[1:][same_user]
        counts = sp.csr_matrix((np.ones(src.size, dtype=np.float32), (src, dst)), shape=(n, n))
        totals = np.asarray(counts.sum(axis=1)).ravel()
        self._transitions = sp.diags(1.0 / np.maximum(totals, 1.0)) @ counts
        pop = np.bincount(train.item, minlength=n).astype(np.float32)
        self._prior = 1e-6 * pop / max(pop.max(), 1.0)

    def score(self, arrays: SequenceArrays) -> np.ndarray:
        last = arrays.items[:, -1] - 1  # [B]; the newest event sits at the last position
        out: np.ndarray = np.asarray(self._transitions[np.maximum(last, 0)].todense(), dtype=np.float32)
        out[last < 0] = 0.0
        result: np.ndarray = out + self._prior
        return result
