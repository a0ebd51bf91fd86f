"""The facade: a user's interest state (+ the time now) -> a ranked, explained list of items.

Score of item i = z-scored model score (the interest model's state after the user's window against its item
table) + short_weight x cosine(item vector, short-term profile) + query_weight x decay x cosine(item vector,
last query's vector), where decay halves every `query_half_life_minutes`. While the query is alive (decay >=
`query_floor`) its price limits and negated phrases filter the catalogue. The best `candidates`, retrieved by
inner product from an `ItemIndex` (exact, faiss HNSW or IVF, see `ranking.retrieval`), go to the exploration policy,
which serves k of them with propensities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from tiderec.config import STRICT
from tiderec.errors import RequestError
from tiderec.explore.greedy import Greedy
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.explore.uncertainty import sparsity
from tiderec.interest.state import InterestState
from tiderec.models.base import SequenceModel
from tiderec.ranking.retrieval import IndexConfig, ItemIndex
from tiderec.types import MINUTE_US, ItemList


@dataclass(frozen=True)
class RecommenderConfig:
    __pydantic_config__ = STRICT

    short_weight: float = 0.5
    query_weight: float = 2.0
    query_half_life_minutes: float = 30.0
    query_floor: float = 0.05
    candidates: int = 200
    index: IndexConfig = field(default_factory=IndexConfig)


@dataclass(frozen=True)
class Served:
    """The served list and a reason per item ('asked for: ...', 'recent interest', 'exploring', ...)."""

    items: ItemList
    reasons: list[str] = field(default_factory=list)


class Recommender:
    """model: a trained SequenceModel (or None: text profiles only); item_vectors float32[N, d] unit rows in the
    same space as the queries' vectors; prices float[N] (NaN unknown); texts: item titles for negations.

    Every score term is an inner product, so one key per item [model row - mean row, text vector] and one query
    per request [model state / std of its raw scores, short_weight x short profile + query_weight x decay x
    query vector] give the whole score; candidates come from an `ItemIndex` over these keys (exact scan for small
    catalogues, faiss HNSW or IVF for large ones). The std is exact: sqrt(s' C s) with C the item table's covariance."""

    def __init__(
        self,
        model: SequenceModel | None,
        item_vectors: np.ndarray,
        prices: np.ndarray,
        texts: list[str],
        config: RecommenderConfig | None = None,
        policy: Policy | None = None,
    ) -> None:
        n = len(item_vectors)
        if prices.shape != (n,) or len(texts) != n:
            raise RequestError(f"recommender: item_vectors, prices and texts must all have {n} rows")
        self.prices, self.texts = prices.astype(np.float64), [t.lower() for t in texts]
        self.config = config or RecommenderConfig()
        self.policy = policy or Greedy()
        table = np.zeros((0, 0), dtype=np.float32)
        if model is not None:
            model.eval()
            with torch.inference_mode():
                table = model.item_table().float().numpy()[:n]
        self.model_dim = table.shape[1]
        centred = table - table.mean(axis=0) if len(table) else table
        self.covariance = (centred.T @ centred / max(len(table), 1)).astype(np.float64)
        keys = np.zeros((n, self.model_dim + item_vectors.shape[1]), dtype=np.float32)
        keys[: len(table), : self.model_dim] = centred
        keys[:, self.model_dim :] = item_vectors
        self.index = ItemIndex(keys, self.config.index)

    @property
    def item_vectors(self) -> np.ndarray:
        """float32[N, d]: the items' text vectors (a view into the index keys)."""
        return self.index.keys[:, self.model_dim :]

    def add_items(self, rows: np.ndarray, vectors: np.ndarray, prices: np.ndarray, texts: list[str]) -> None:
        """Insert or update items at indices `rows` (new indices extend the catalogue): they are scored by text
        at once; the model scores new items neutrally until it is retrained and keeps its row for updated ones."""
        n = max(len(self.prices), int(rows.max()) + 1)
        if n > len(self.prices):
            extra = n - len(self.prices)
            self.prices = np.concatenate([self.prices, np.full(extra, np.nan)])
            self.texts = self.texts + [""] * extra
        keys = np.zeros((len(rows), self.index.keys.shape[1]), dtype=np.float32)
        known = rows < len(self.index.keys)
        keys[known, : self.model_dim] = self.index.keys[rows[known], : self.model_dim]
        keys[:, self.model_dim :] = vectors
        self.index.upsert(rows, keys)
        self.prices[rows] = prices
        for row, text in zip(rows.tolist(), texts, strict=True):
            self.texts[row] = text.lower()

    def query(self, state: InterestState, now_us: int) -> tuple[np.ndarray, float, np.ndarray | None]:
        """(query float32[m] against the index keys; the user's query's current weight in [0, 1]; the allowed
        items bool[N] while that query filters, else None)."""
        cfg = self.config
        out = np.zeros(self.index.keys.shape[1], dtype=np.float64)
        s = state.model_state
        if self.model_dim and s is not None and s.size == self.model_dim:
            s64 = s.astype(np.float64)
            std = float(np.sqrt(max(float(s64 @ self.covariance @ s64), 0.0)))
            out[: self.model_dim] = s64 / (std or 1.0)
        if state.short.weight > 0:
            mean = state.short.mean()
            out[self.model_dim :] += cfg.short_weight * mean / (np.linalg.norm(mean) or 1.0)
        decay = 0.0
        allowed = None
        q = state.query
        if q is not None:
            age_minutes = max(now_us - q.ts_us, 0) / MINUTE_US
            decay = 0.5 ** (age_minutes / cfg.query_half_life_minutes)
            if decay >= cfg.query_floor:
                out[self.model_dim :] += cfg.query_weight * decay * q.vector
                allowed = self._allowed(q.min_price, q.max_price, q.negations)
            else:
                decay = 0.0
        return out.astype(np.float32), decay, allowed

    def scores(self, state: InterestState, now_us: int) -> tuple[np.ndarray, float]:
        """(float[N] exact scores of every item, -inf where filtered; the query's current weight in [0, 1])."""
        query, decay, allowed = self.query(state, now_us)
        out = self.index.scores(query).astype(np.float64)
        return (out if allowed is None else np.where(allowed, out, -np.inf)), decay

    def _allowed(self, low: float | None, high: float | None, negated: tuple[str, ...]) -> np.ndarray:
        ok = np.ones(len(self.prices), dtype=bool)
        known = ~np.isnan(self.prices)
        if low is not None:
            ok &= ~known | (self.prices >= low)
        if high is not None:
            ok &= ~known | (self.prices <= high)
        for phrase in negated:
            p = phrase.lower()
            ok &= np.array([p not in t for t in self.texts])
        return ok

    def recommend(
        self, state: InterestState, k: int, now_us: int, seed: int = 0, policy: Policy | None = None
    ) -> Served:
        """k items for the user now, through the exploration policy (this call's, else the default), each with a
        reason."""
        query, decay, allowed = self.query(state, now_us)
        pool, scores = self.index.search(query, self.config.candidates, allowed)
        if len(pool) == 0:
            raise RequestError("recommender: every item is filtered out by the query's constraints")
        request = ExploreRequest(pool, scores.astype(np.float64), min(k, len(pool)), sparsity(state.n_events))
        served = (policy or self.policy).select(request, seed)
        q = state.query
        reasons = []
        for item, explored in zip(served.items.tolist(), served.explored.tolist(), strict=True):
            if explored:
                reasons.append("exploring")
            elif q is not None and decay > 0 and float(self.item_vectors[item] @ q.vector) >= 0.5:
                reasons.append(f"asked for: {q.text}")
            else:
                reasons.append("your recent interests")
        return Served(served, reasons)
