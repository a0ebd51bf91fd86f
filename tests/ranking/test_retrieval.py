"""Candidate retrieval: the HNSW and IVF engines find what the exact scan finds, filter inside the search, and
take upserts without a rebuild."""

from __future__ import annotations

import numpy as np
import pytest

from tiderec.errors import ConfigError, RequestError
from tiderec.ranking.retrieval import IndexConfig, ItemIndex

N, M = 4000, 24
PROJECTED = IndexConfig(scan_below=1, hnsw_dim=12)
CONFIGS = [IndexConfig(scan_below=1), PROJECTED, IndexConfig(scan_below=1, engine="ivf"), IndexConfig()]
CONFIG_IDS = ["hnsw", "hnsw-projected", "ivf", "exact"]


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


@pytest.mark.parametrize("engine", ["hnsw", "hnsw-projected", "ivf"])
def test_small_catalogues_are_scanned_exactly_and_large_ones_use_an_index(engine: str) -> None:
    keys = _keys()
    assert ItemIndex(keys).exact
    kind = engine.split("-")[0]
    dim = PROJECTED.hnsw_dim if engine == "hnsw-projected" else None
    approx = ItemIndex(keys, IndexConfig(scan_below=1, engine=kind, nprobe=8, hnsw_dim=dim))  # type: ignore[arg-type]
    assert approx.engine == kind
    exact = ItemIndex(keys)
    recall = []
    for q in _queries(keys):
        truth, truth_scores = exact.search(q, 50)
        found, scores = approx.search(q, 50)
        assert len(found) == 50
        assert (np.diff(scores) <= 1e-6).all()
        np.testing.assert_allclose(scores, keys[found] @ q, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(truth_scores, np.sort(keys @ q)[::-1][:50], rtol=1e-5, atol=1e-5)
        recall.append(len(set(truth.tolist()) & set(found.tolist())) / 50)
    assert np.mean(recall) >= 0.95


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_filters_apply_inside_the_search(config: IndexConfig) -> None:
    keys = _keys()
    index = ItemIndex(keys, config)
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


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_upserts_replace_and_extend_without_a_rebuild(config: IndexConfig) -> None:
    keys = _keys()
    index = ItemIndex(keys, config)
    q = _queries(keys)[0]
    target = (q / np.linalg.norm(q)).astype(np.float32)
    index.upsert(np.array([5, N + 2]), np.stack([target, target]))
    assert len(index.keys) == N + 3
    assert not index.keys[N + 1].any()
    found, _ = index.search(q, 2)
    assert sorted(found.tolist()) == [5, N + 2]
    index.upsert(np.array([5]), -target[None, :])
    assert 5 not in index.search(q, 100)[0].tolist()
    replaced = index.search(-q, 1)
    assert replaced[0].tolist() == [5]
    np.testing.assert_allclose(replaced[1], [-target @ -q], rtol=1e-5)
    allowed = np.zeros(len(index.keys), dtype=bool)
    allowed[[5, N + 2, 9]] = True
    assert sorted(index.search(q, 3, allowed)[0].tolist()) == [5, 9, N + 2]
    assert index.search(q, 1, allowed)[0].tolist() == [N + 2]
    with pytest.raises(RequestError, match=r"\[N, m\]"):
        ItemIndex(keys[0])
    many = index.search_many(np.stack([q, -q]), 20)
    assert [m.tolist() for m in many] == [index.search(q, 20)[0].tolist(), index.search(-q, 20)[0].tolist()]


def test_a_projected_graph_is_fitted_to_the_keys_and_bad_settings_are_refused() -> None:
    keys = _keys()
    index = ItemIndex(keys, PROJECTED)
    projection = index._projection
    assert projection is not None
    assert projection.shape == (M, 12)
    np.testing.assert_allclose(projection.T @ projection, np.eye(12), atol=1e-5)
    assert ItemIndex(keys, IndexConfig(scan_below=1, hnsw_dim=M))._projection is None
    for bad in ({"hnsw_dim": 0}, {"ef_search": 0}, {"nlist": 0}, {"projection_sample": 0}):
        with pytest.raises(ConfigError, match="index:"):
            IndexConfig(**bad)  # type: ignore[arg-type]
