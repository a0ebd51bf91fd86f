"""Item-KNN baseline: cosine similarity of items by co-occurrence in users' training sequences (within a
window of neighbouring events); a user's score for an item sums its similarity to the recent history items,
weighted towards the newest. Popularity breaks ties."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays


class ItemKNN:
    name = "itemknn"

    def __init__(self, train: Interactions, window: int = 5, neighbours: int = 100, decay: float = 0.8) -> None:
        self.n_items = n = train.n_items
        self.decay = decay
        self._similarity = cooccurrence_similarity(train, window, neighbours)
        counts = np.bincount(train.item, minlength=n).astype(np.float32)
        self._prior = 1e-6 * counts / max(counts.max(), 1.0)

    def score(self, arrays: SequenceArrays) -> np.ndarray:
        items = arrays.items - 1  # [B, T], -1 = pad
        t = items.shape[1]
        weights = self.decay ** np.arange(t - 1, -1, -1, dtype=np.float32)  # newest = 1
        rows, cols = np.nonzero(items >= 0)
        history = sp.csr_matrix((weights[cols], (rows, items[rows, cols])), shape=(items.shape[0], self.n_items))
        scores: np.ndarray = np.asarray((history @ self._similarity).todense(), dtype=np.float32)
        result: np.ndarray = scores + self._prior
        return result


def cooccurrence_similarity(train: Interactions, window: int = 5, neighbours: int = 100) -> sp.csr_matrix:
    """float32[N, N] cosine similarity of items that occur within `window` events of each other in a user's
    training sequence, each row cut to its `neighbours` largest entries."""
    n = train.n_items
    none = np.zeros(0, dtype=np.int32)
    pairs = sp.csr_matrix((np.zeros(0, dtype=np.float32), (none, none)), shape=(n, n))
    for shift in range(1, window + 1):  # one shift at a time: memory grows with distinct pairs, not with events
        same_user = train.user[shift:] == train.user[:-shift]
        a, b = train.item[:-shift][same_user].astype(np.int32), train.item[shift:][same_user].astype(np.int32)
        counted = sp.csr_matrix((np.ones(a.size, dtype=np.float32), (a, b)), shape=(n, n))
        pairs = pairs + counted + counted.T
    pairs.setdiag(0)
    pairs.eliminate_zeros()
    counts = np.bincount(train.item, minlength=n).astype(np.float32)
    norm = 1.0 / np.sqrt(np.maximum(counts, 1.0))
    similarity = sp.diags(norm) @ pairs @ sp.diags(norm)
    return _keep_top(similarity.tocsr(), neighbours)


def _keep_top(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row."""
    keep = np.zeros(matrix.nnz, dtype=bool)
    for r in range(matrix.shape[0]):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        if end - start <= k:
            keep[start:end] = True
        else:
            keep[start + np.argpartition(-matrix.data[start:end], k - 1)[:k]] = True
    out = matrix.copy()
    out.data = np.where(keep, out.data, 0.0).astype(np.float32)
    out.eliminate_zeros()
    return out
