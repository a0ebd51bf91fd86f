"""The interest space: every item mapped to one interest, labelled in words. A catalogue's own leaf categories
when it has them; otherwise clusters of the items' language-model vectors, named by their frequent title words."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.cluster.vq import kmeans2
from scipy.sparse.linalg import svds

from tiderec.data.categories import ItemCategories
from tiderec.errors import DatasetError
from tiderec.types import Items

STOPWORDS = frozenset(
    {"a", "an", "and", "the", "of", "for", "with", "in", "on", "to", "set", "pack", "box", "size", "small", "large"}
    | {"mini", "red", "blue", "white", "pink", "black", "green", "assorted", "colour", "color", "design", "vintage"}
)


@dataclass(frozen=True)
class InterestSpace:
    """codes int64[n_items] (-1: none) in catalogue row order; labels[c] names interest c; vectors
    float32[n_interests, d] unit rows place interests in a space where near means related (None: unrelated)."""

    codes: np.ndarray
    labels: list[str]
    source: str
    vectors: np.ndarray | None = None

    def label(self, code: int) -> str:
        return self.labels[code] if 0 <= code < len(self.labels) else "unknown"

    @classmethod
    def of_categories(cls, items: Items) -> InterestSpace:
        cats = ItemCategories.of(items)
        return cls(cats.codes, cats.names, "category")

    @classmethod
    def of_vectors(cls, vectors: np.ndarray, titles: list[str | None], k: int, seed: int = 0) -> InterestSpace:
        """k-means (k clusters, seeded) over unit-normalised vectors float32[N, d]; labels: the 3 most frequent
        title words of each cluster that are not frequent everywhere."""
        if len(vectors) < k:
            raise DatasetError(f"interest space: {len(vectors)} items cannot form {k} clusters")
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        codes = _kmeans_codes(unit, k, seed)
        words = [_words(t) for t in titles]
        overall = Counter(w for ws in words for w in set(ws))
        labels = []
        for c in range(k):
            counts = Counter(w for i in np.flatnonzero(codes == c) for w in set(words[i]))
            ranked = sorted(counts, key=lambda w: (-counts[w] / (overall[w] ** 0.5), w))
            labels.append(" ".join(ranked[:3]) or f"cluster {c}")
        centroids = np.stack([unit[codes == c].mean(axis=0) if (codes == c).any() else unit[0] * 0 for c in range(k)])
        return cls(codes.astype(np.int64), labels, f"k-means over item vectors (k={k})", _unit(centroids))

    def with_cooccurrence(self, sequences: list[np.ndarray], dim: int = 32, window: int = 5) -> InterestSpace:
        """The same space with vectors learned from behaviour: truncated SVD of the positive PMI of interests
        that occur within `window` events of each other in users' sequences (int64 codes, -1 skipped)."""
        return replace(self, vectors=cooccurrence_vectors(sequences, len(self.labels), dim, window),
                       source=self.source + f" + co-occurrence vectors (PPMI-SVD, d={dim})")  # fmt: skip


SCIPY_KMEANS_MAX = 20_000
"""Up to this many items, scipy's k-means; above, the same algorithm (k-means++ init, Lloyd iterations) with
BLAS distances: scipy's does not use BLAS and took minutes for 100k items x 200 clusters."""


def _kmeans_codes(unit: np.ndarray, k: int, seed: int, iterations: int = 20) -> np.ndarray:
    """Cluster of each row of `unit` float[N, d] (k-means, k-means++ init, seeded)."""
    if len(unit) <= SCIPY_KMEANS_MAX:
        _, codes = kmeans2(unit.astype(np.float64), k, seed=seed, minit="++")
        return np.asarray(codes)
    x = unit.astype(np.float32)
    rng = np.random.default_rng(seed)
    sq = (x * x).sum(axis=1)
    centroids = np.empty((k, x.shape[1]), dtype=np.float32)
    centroids[0] = x[rng.integers(len(x))]
    nearest = sq - 2 * x @ centroids[0] + centroids[0] @ centroids[0]
    for j in range(1, k):
        weights = np.maximum(nearest, 0).astype(np.float64)
        centroids[j] = x[rng.choice(len(x), p=weights / weights.sum())]
        nearest = np.minimum(nearest, sq - 2 * x @ centroids[j] + centroids[j] @ centroids[j])
    codes = np.zeros(len(x), dtype=np.int64)
    for _ in range(iterations):
        codes = np.argmax(x @ centroids.T - 0.5 * (centroids * centroids).sum(axis=1), axis=1)
        counts = np.bincount(codes, minlength=k)
        members = sp.csr_matrix((np.ones(len(x), dtype=np.float32), (codes, np.arange(len(x)))), shape=(k, len(x)))
        sums = np.asarray(members @ x)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return codes


def cooccurrence_vectors(sequences: list[np.ndarray], n: int, dim: int = 32, window: int = 5) -> np.ndarray:
    """float32[n, dim] unit rows: sqrt-scaled left singular vectors of the PPMI co-occurrence matrix."""
    rows, cols = [], []
    for seq in sequences:
        known = seq[seq >= 0]
        for shift in range(1, window + 1):
            rows.append(known[:-shift])
            cols.append(known[shift:])
    r, c = np.concatenate(rows), np.concatenate(cols)
    pairs = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n)).tocsr()
    counts = sp.coo_matrix(pairs + pairs.T)
    row, col, data = counts.row, counts.col, np.asarray(counts.data, dtype=np.float64)
    margin = np.bincount(row, weights=data, minlength=n)
    pmi = np.log(data * data.sum() / np.maximum(margin[row] * margin[col], 1e-12))
    keep = pmi > 0
    ppmi = sp.csr_matrix((pmi[keep], (row[keep], col[keep])), shape=(n, n))
    if n <= 2 * dim:
        u, s, _ = np.linalg.svd(ppmi.toarray())
        u, s = u[:, :dim], s[:dim]
    else:
        u, s, _ = svds(ppmi, k=dim, random_state=0)
    return _unit((u * np.sqrt(s)).astype(np.float32))


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return out


def interest_space(items: Items, vectors: np.ndarray | None, k: int | None = None, seed: int = 0) -> InterestSpace:
    """Categories when at least half of the items have one; else clusters of `vectors` (k defaults to
    sqrt(n_items / 2), between 8 and 200, at most the number of items)."""
    has_category = (items.frame["category"].list.len().fill_null(0) > 0).to_numpy()
    if items.frame.height and has_category.mean() >= 0.5:
        return InterestSpace.of_categories(items)
    if vectors is None:
        raise DatasetError("interest space: the catalogue has no categories; give item vectors (tiderec encode)")
    k = k or min(len(vectors), int(np.clip(round((len(vectors) / 2) ** 0.5), 8, 200)))
    return InterestSpace.of_vectors(vectors, items.frame["title"].to_list(), k, seed)


def _words(title: str | None) -> list[str]:
    if not title:
        return []
    return [w for w in re.findall(r"[^\W\d_]{3,}", title.lower()) if w not in STOPWORDS]
