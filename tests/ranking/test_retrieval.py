"""Candidate retrieval: the IVF engine finds what the exact scan finds, filters inside the search, and takes
upserts without a rebuild."""

from __future__ import annotations

import numpy as np
import pytest

from tiderec.errors import RequestError
from tiderec.ranking.retrieval import IndexConfig, ItemIndex

N, M = 4000, 24


def _keys(seed: int = 0) -> np.ndarray:
    """Clustered unit keys (40 clusters), like item vectors of a catalogue with categories."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, M))
    keys = centres[rng.integers(0, 40, N)] + 0.4 * rng.normal(size=(N, M))
    out: np.ndarray = (keys / np.linalg.norm(keys, axis=1, keepdims=True)).astype(np.float32)
    return out


def _queries(keys: np.ndarray, n: int = 30) -> np.ndarray:
    rng = np.random.default_rng(1)
    out: np.ndarray = keys[rng.integers(0, len(keys), n)] + 0.1 * rng.normal(size=(n, M)).astype(np.float32)
    return out


def test_small_catalogues_are_scanned_exactly_and_large_ones_use_ivf() -> None:
    keys = _keys()
    assert ItemIndex(keys).exact
    ivf = ItemIndex(keys, IndexConfig(exact_below=1000, nprobe=8))
    assert not ivf.exact
    exact = ItemIndex(keys)
    recall = []
    for q in _queries(keys):
        truth, truth_scores = exact.search(q, 50)
        found, scores = ivf.search(q, 50)
        assert len(found) == 50
        assert (np.diff(scores) <= 1e-6).all()
        np.testing.assert_allclose(scores, keys[found] @ q, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(truth_scores, np.sort(keys @ q)[::-1][:50], rtol=1e-5, atol=1e-5)
        recall.append(len(set(truth.tolist()) & set(found.tolist())) / 50)
    assert np.mean(recall) >= 0.95


@pytest.mark.parametrize("exact_below", [1000, 20_000])
def test_filters_apply_inside_the_search(exact_below: int) -> None:
    keys = _keys()
    index = ItemIndex(keys, IndexConfig(exact_below=exact_below))
    allowed = np.zeros(N, dtype=bool)
    allowed[::3] = True
    q = _queries(keys)[0]
    found, _ = index.search(q, 40, allowed)
    assert len(found) == 40
    assert (found % 3 == 0).all()
    few = np.zeros(N, dtype=bool)
    few[[7, 1234, 3999]] = True
    found, scores = index.search(q, 10, few)
    assert sorted(found.tolist()) == [7, 1234, 3999]
    assert (np.diff(scores) <= 0).all()
    assert len(index.search(q, 10, np.zeros(N, dtype=bool))[0]) == 0


@pytest.mark.parametrize("exact_below", [1000, 20_000])
def test_upserts_replace_and_extend_without_a_rebuild(exact_below: int) -> None:
    keys = _keys()
    index = ItemIndex(keys, IndexConfig(exact_below=exact_below))
    q = _queries(keys)[0]
    target = (q / np.linalg.norm(q)).astype(np.float32)
    index.upsert(np.array([5, N + 2]), np.stack([target, target]))
    assert len(index.keys) == N + 3
    assert not index.keys[N + 1].any()
    found, _ = index.search(q, 2)
    assert sorted(found.tolist()) == [5, N + 2]
    index.upsert(np.array([5]), -target[None, :])
    assert 5 not in index.search(q, 100)[0].tolist()
    with pytest.raises(RequestError, match=r"\[N, m\]"):
        ItemIndex(keys[0])
