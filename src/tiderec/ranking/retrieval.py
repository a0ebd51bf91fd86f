"""Candidate retrieval: the items with the largest inner product between their key and a query vector.

One interface, three engines: an exact scan (a matrix-vector product) for small catalogues, and for large ones,
where a scan is memory-bound, a faiss HNSW graph (the default) or an inverted-file index over 8-bit quantised keys
(`engine="ivf"`); approximate finds are re-scored exactly from the float keys. The HNSW graph holds the keys
projected onto their top `hnsw_dim` principal directions (uncentred SVD: the best rank-d approximation of inner
products); a 64-d graph walk is cheaper than a 512-d one, and re-scoring all its efSearch finds exactly puts the
near neighbours the projection misorders back. Measured on this CPU (one thread, 101,888 real item vectors of 512
dimensions, real users' profiles as queries; benchmarks/results/retrieval.md): exact ~13 ms per search; HNSW
(M 32, efSearch 200) 97.4% of the exact top 10 in 0.39 ms (128 dims: 99.0% in 0.51 ms; a full-width M 16 graph:
97.3% in 0.66 ms); IVF with 4 sqrt(N) lists probing 128: 97.8% in 0.96 ms. Items can be inserted or replaced
without a rebuild (HNSW: a replaced item's old node is masked out and a new node added), and an allowed-item mask
filters inside the search (faiss bitmap selector).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tiderec.config import STRICT
from tiderec.errors import ConfigError, RequestError
from tiderec.metrics import top_k


@dataclass(frozen=True)
class IndexConfig:
    """scan_below: keys holding fewer numbers than this (items x dimensions) are scanned exactly, since a scan costs
    its size: 20,000 512-d text vectors, 160,000 64-d model rows; engine: the approximate index above it.
    HNSW: hnsw_m links per node, ef_construction / ef_search candidate lists when building / searching, the graph
    over the keys projected to hnsw_dim principal directions (None: the full keys; the projection is fitted on up
    to projection_sample keys).
    IVF: nlist inverted lists (None: 4 sqrt(N)), nprobe lists visited per query, seed of the k-means."""

    __pydantic_config__ = STRICT

    scan_below: int = 10_240_000
    engine: Literal["hnsw", "ivf"] = "hnsw"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 200
    hnsw_dim: int | None = 64
    projection_sample: int = 20_000
    nlist: int | None = None
    nprobe: int = 128
    seed: int = 0

    def scans(self, items: int, dim: int) -> bool:
        """Whether keys float32[items, dim] are scanned exactly rather than searched approximately."""
        return items * dim < self.scan_below

    def __post_init__(self) -> None:
        if min(self.scan_below, self.hnsw_m, self.ef_construction, self.ef_search, self.nprobe) < 1:
            raise ConfigError("index: scan_below, hnsw_m, ef_construction, ef_search and nprobe must be >= 1")
        if (self.hnsw_dim is not None and self.hnsw_dim < 1) or self.projection_sample < 1:
            raise ConfigError("index: hnsw_dim (or None) and projection_sample must be >= 1")
        if self.nlist is not None and self.nlist < 1:
            raise ConfigError(f"index: nlist must be >= 1 or None, got {self.nlist}")


class ItemIndex:
    """Keys float32[N, m], one row per item index; search returns item indices with their scores."""

    def __init__(self, keys: np.ndarray, config: IndexConfig | None = None) -> None:
        if keys.ndim != 2:
            raise RequestError(f"retrieval: keys must be [N, m], got shape {keys.shape}")
        self.config = config or IndexConfig()
        self.keys = np.ascontiguousarray(keys, dtype=np.float32)
        self._ivf: Any = None
        self._hnsw: Any = None
        self._projection: np.ndarray | None = None
        """float32[m, d]: keys -> the HNSW graph's space (None: the graph holds the full keys)."""
        self._node_rows = np.zeros(0, dtype=np.int64)
        """HNSW node -> item row (nodes are appended; a replaced item's old node stays, masked out)."""
        self._row_node = np.zeros(0, dtype=np.int64)
        self._live: np.ndarray | None = None
        """bool[nodes]: HNSW nodes still current (None while every node is); _live_bits is it packed."""
        self._live_bits: np.ndarray | None = None
        if not self.config.scans(*self.keys.shape):
            if self.config.engine == "hnsw":
                self._build_hnsw()
            else:
                self._ivf = self._build()

    @property
    def exact(self) -> bool:
        return self._ivf is None and self._hnsw is None

    @property
    def engine(self) -> str:
        """'exact', 'hnsw' or 'ivf': what answers searches."""
        return "exact" if self.exact else self.config.engine

    def _build_hnsw(self) -> None:
        import faiss

        cfg = self.config
        n, m = self.keys.shape
        if cfg.hnsw_dim is not None and cfg.hnsw_dim < m:
            rng = np.random.default_rng(cfg.seed)
            sample = self.keys[np.sort(rng.choice(n, min(n, cfg.projection_sample), replace=False))]
            _, _, vt = np.linalg.svd(sample.astype(np.float64), full_matrices=False)
            self._projection = np.ascontiguousarray(vt[: cfg.hnsw_dim].T, dtype=np.float32)
        graph_keys = self._projected(self.keys)
        index = faiss.IndexHNSWFlat(graph_keys.shape[1], cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.ef_construction
        index.add(graph_keys)
        self._hnsw = index
        self._node_rows = np.arange(n, dtype=np.int64)
        self._row_node = np.arange(n, dtype=np.int64)

    def _projected(self, x: np.ndarray) -> np.ndarray:
        """float32[..., d]: keys or queries float32[..., m] in the HNSW graph's space."""
        x = np.asarray(x, dtype=np.float32)
        return np.ascontiguousarray(x if self._projection is None else x @ self._projection)

    def _build(self) -> Any:
        import faiss

        n, m = self.keys.shape
        nlist = self.config.nlist or max(1, int(4 * math.sqrt(n)))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(m), m, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.seed = self.config.seed
        sample = min(n, 40 * nlist)
        rows = np.random.default_rng(self.config.seed).choice(n, sample, replace=False)
        index.train(self.keys[np.sort(rows)])
        index.add_with_ids(self.keys, np.arange(n, dtype=np.int64))
        return index

    @property
    def nlist(self) -> int | None:
        """Inverted lists of the IVF engine (None when it scans exactly)."""
        return None if self._ivf is None else int(self._ivf.nlist)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """float32[N]: every item's exact score for query float32[m]."""
        out: np.ndarray = self.keys @ query.astype(np.float32)
        return out

    def search(self, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(int64[n'] item indices, float32[n'] scores), best first, n' = min(n, allowed items). The IVF engine
        falls back to an exact scan when its probed lists hold fewer than n allowed items."""
        total = len(self.keys) if allowed is None else int(allowed.sum())
        n = min(n, total)
        if n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if not self.exact:
            if self._hnsw is not None:
                ((ids, scores),) = self._search_hnsw(query[None, :], n, allowed)
            else:
                ids, scores = self._search_ivf(query, n, allowed)
            if len(ids) == n:
                return ids, scores
        scores = self.scores(query)
        if allowed is None:
            best = top_k(scores[None, :], n)[0]
            return best.astype(np.int64), scores[best]
        pool = np.flatnonzero(allowed)
        best = pool[top_k(scores[pool][None, :], n)[0]]
        return best.astype(np.int64), scores[best]

    def search_many(self, queries: np.ndarray, n: int) -> list[np.ndarray]:
        """`search` for each row of queries float32[B, m] (no filter), item indices only: the HNSW graph is
        searched for all rows in one call (a row it answers short is searched again on its own)."""
        n = min(n, len(self.keys))
        if self._hnsw is None or n <= 0:
            return [self.search(q, n)[0] for q in queries]
        found = self._search_hnsw(queries, n, None)
        return [ids if len(ids) == n else self.search(q, n)[0] for q, (ids, _) in zip(queries, found, strict=True)]

    def _search_ivf(self, query: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        params = faiss.SearchParametersIVF()
        params.nprobe = self.config.nprobe
        if allowed is not None:
            bits = np.packbits(allowed, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        _, ids = self._ivf.search(query.astype(np.float32)[None, :], n, params=params)
        return self._rescored(ids[0][ids[0] >= 0].astype(np.int64), query)

    def _search_hnsw(
        self, queries: np.ndarray, n: int, allowed: np.ndarray | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per row of queries float32[B, m], one graph search for all. With a projected graph, all efSearch finds
        are re-scored exactly and the best n kept (the projection misorders near neighbours; the re-score puts
        them back)."""
        import faiss

        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.config.ef_search, n)
        fetch = n if self._projection is None else params.efSearch
        bits = self._live_bits
        if allowed is not None:
            live = allowed[self._node_rows]
            if self._live is not None:
                live &= self._live
            bits = np.packbits(live, bitorder="little")
        if bits is not None:
            params.sel = faiss.IDSelectorBitmap(len(self._node_rows), faiss.swig_ptr(bits))
        _, nodes = self._hnsw.search(self._projected(queries), fetch, params=params)
        out = []
        for query, row in zip(queries, nodes, strict=True):
            found, scores = self._rescored(self._node_rows[row[row >= 0]], query)
            out.append((found[:n], scores[:n]))
        return out

    def _rescored(self, found: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The approximate finds int64[K] re-scored exactly from the float keys, best first."""
        exact = self.keys[found] @ query.astype(np.float32)
        order = np.argsort(-exact, kind="stable")
        return found[order], exact[order]

    def upsert(self, rows: np.ndarray, keys: np.ndarray) -> None:
        """Insert or replace the keys of items `rows` int64[K] (indices past the end extend the catalogue; rows
        skipped over get zero keys) with keys float32[K, m]."""
        old = len(self.keys)
        n = max(old, int(rows.max()) + 1) if len(rows) else old
        if n > old:
            grown = np.zeros((n, self.keys.shape[1]), dtype=np.float32)
            grown[:old] = self.keys
            self.keys = grown
        self.keys[rows] = keys
        fresh = np.union1d(np.unique(rows), np.arange(old, n)).astype(np.int64)
        if self._hnsw is not None:
            self._upsert_hnsw(fresh)
        if self._ivf is not None:
            import faiss

            present = fresh[fresh < old]
            if len(present):
                self._ivf.remove_ids(faiss.IDSelectorBatch(present))
            self._ivf.add_with_ids(self.keys[fresh], fresh)

    def _upsert_hnsw(self, fresh: np.ndarray) -> None:
        """New nodes for rows `fresh` (their current keys); the nodes they replace are masked out of searches."""
        if len(fresh) and int(fresh.max()) >= len(self._row_node):
            grown = np.full(int(fresh.max()) + 1, -1, dtype=np.int64)
            grown[: len(self._row_node)] = self._row_node
            self._row_node = grown
        old_nodes = self._row_node[fresh]
        live = np.ones(len(self._node_rows), dtype=bool) if self._live is None else self._live
        live[old_nodes[old_nodes >= 0]] = False
        first = len(self._node_rows)
        self._hnsw.add(self._projected(self.keys[fresh]))
        self._node_rows = np.concatenate([self._node_rows, fresh])
        self._row_node[fresh] = np.arange(first, first + len(fresh))
        live = np.concatenate([live, np.ones(len(fresh), dtype=bool)])
        self._live = None if live.all() else live
        self._live_bits = None if self._live is None else np.packbits(self._live, bitorder="little")
