"""The interest space: every item mapped to one interest, labelled in words. A catalogue's own leaf categories
when it has them; otherwise clusters of the items' language-model vectors, named by their frequent title words;
for a catalogue with neither (attribute ids only, as in the S3-Rec Amazon files), clusters of its attributes."""

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

    @classmethod
    def of_attributes(cls, items: Items, k: int, dim: int = 32, seed: int = 0) -> InterestSpace:
        """k-means (k clusters, seeded) over the items' attribute sets: tf-idf rows of the item x attribute matrix,
        reduced to `dim` by truncated SVD; labels: each cluster's 3 most distinctive attributes. Items without
        attributes get code -1."""
        tags = [t or [] for t in items.frame["attributes"].to_list()]
        names = sorted({a for t in tags for a in t})
        if not names or len(names) < 2:
            raise DatasetError("interest space: the items' attributes take fewer than 2 values")
        index = {a: j for j, a in enumerate(names)}
        rows = np.repeat(np.arange(len(tags)), [len(set(t)) for t in tags])
        cols = np.array([index[a] for t in tags for a in dict.fromkeys(t)], dtype=np.int64)
        matrix = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(tags), len(names)))
        df = np.diff(matrix.tocsc().indptr).astype(np.float64)
        weighted = matrix.multiply(np.log((1 + len(tags)) / (1 + df)) + 1).tocsr()
        tagged = np.flatnonzero(np.diff(weighted.indptr) > 0)
        if len(tagged) < k:
            raise DatasetError(f"interest space: {len(tagged)} items with attributes cannot form {k} clusters")
        dim = min(dim, len(names) - 1, len(tagged) - 1)
        u, s, _ = svds(weighted[tagged], k=dim, random_state=seed)
        unit = _unit((u * s).astype(np.float32))
        codes = np.full(len(tags), -1, dtype=np.int64)
        codes[tagged] = _kmeans_codes(unit, k, seed)
        overall = df / len(tags)
        labels = []
        for c in range(k):
            members = matrix[np.flatnonzero(codes == c)]
            share = np.asarray(members.sum(axis=0)).ravel() / max(members.shape[0], 1)
            ranked = np.argsort(-(share / np.sqrt(np.maximum(overall, 1e-12))), kind="stable")[:3]
            labels.append("attributes " + " ".join(names[j] for j in ranked if share[j] > 0) or f"cluster {c}")
        centroids = np.stack([unit[codes[tagged] == c].mean(axis=0) if (codes == c).any() else unit[0] * 0
                              for c in range(k)])  # fmt: skip
        return cls(codes, labels, f"k-means over attributes (k={k})", _unit(centroids))

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
    """Categories when at least half of the items have one; else clusters of `vectors`; else, when at least half
    of the items have attributes, clusters of those (k defaults to sqrt(n_items / 2), between 8 and 200, at most
    the number of items)."""
    n = items.frame.height
    k = k or min(n, int(np.clip(round((n / 2) ** 0.5), 8, 200)))
    if n and _share_listed(items, "category") >= 0.5:
        return InterestSpace.of_categories(items)
    if vectors is not None:
        return InterestSpace.of_vectors(vectors, items.frame["title"].to_list(), k, seed)
    if n and _share_listed(items, "attributes") >= 0.5:
        return InterestSpace.of_attributes(items, k, seed=seed)
    raise DatasetError(
        "interest space: the catalogue has no categories or attributes; give item vectors (tiderec encode)"
    )


def _share_listed(items: Items, column: str) -> float:
    """The share of items with a non-empty list in `column`."""
    return float((items.frame[column].list.len().fill_null(0) > 0).to_numpy().mean())


def _words(title: str | None) -> list[str]:
    if not title:
        return []
    return [w for w in re.findall(r"[^\W\d_]{3,}", title.lower()) if w not in STOPWORDS]
