"""The facade: a user's interest state (+ the time now) -> a ranked, explained list of items.

Score of item i = z-scored model score (the interest model's state after the user's window against its item
table) + short_weight x cosine(item vector, short-term profile) + query_weight x decay x cosine(item vector,
last query's vector), where decay halves every `query_half_life_minutes`. While the query is alive (decay >=
`query_floor`) its price limits and negated phrases filter the catalogue. The best `candidates` go to the
exploration policy, which serves k of them with propensities.
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
from tiderec.metrics import top_k
from tiderec.models.base import SequenceModel
from tiderec.types import MINUTE_US, ItemList


@dataclass(frozen=True)
class RecommenderConfig:
    __pydantic_config__ = STRICT

    short_weight: float = 0.5
    query_weight: float = 2.0
    query_half_life_minutes: float = 30.0
    query_floor: float = 0.05
    candidates: int = 200


@dataclass(frozen=True)
class Served:
    """The served list and a reason per item ('asked for: ...', 'recent interest', 'exploring', ...)."""

    items: ItemList
    reasons: list[str] = field(default_factory=list)


class Recommender:
    """model: a trained SequenceModel (or None: text profiles only); item_vectors float32[N, d] unit rows in the
    same space as the queries' vectors; prices float[N] (NaN unknown); texts: item titles for negations."""

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
        self.model, self.item_vectors, self.prices, self.texts = model, item_vectors, prices, [t.lower() for t in texts]
        self.config = config or RecommenderConfig()
        self.policy = policy or Greedy()
        self.item_table: np.ndarray | None = None
        if model is not None:
            model.eval()
            with torch.inference_mode():
                self.item_table = model.item_table().float().numpy()

    def add_items(self, rows: np.ndarray, vectors: np.ndarray, prices: np.ndarray, texts: list[str]) -> None:
        """Insert or update items at indices `rows` (new indices extend the catalogue): they are scored by text
        at once; the model scores them neutrally until it is retrained."""
        n = max(len(self.item_vectors), int(rows.max()) + 1)
        if n > len(self.item_vectors):
            extra = n - len(self.item_vectors)
            self.item_vectors = np.vstack(
                [self.item_vectors, np.zeros((extra, self.item_vectors.shape[1]), np.float32)]
            )
            self.prices = np.concatenate([self.prices, np.full(extra, np.nan)])
            self.texts = self.texts + [""] * extra
        self.item_vectors[rows] = vectors
        self.prices[rows] = prices
        for row, text in zip(rows.tolist(), texts, strict=True):
            self.texts[row] = text.lower()

    def scores(self, state: InterestState, now_us: int) -> tuple[np.ndarray, float]:
        """(float[N] scores, -inf where filtered; the query's current weight in [0, 1])."""
        cfg = self.config
        out = np.zeros(len(self.item_vectors))
        if self.item_table is not None and state.model_state is not None and state.model_state.size:
            raw = self.item_table @ state.model_state
            z = (raw - raw.mean()) / (raw.std() or 1.0)
            out[: len(z)] += z
        if state.short.weight > 0:
            mean = state.short.mean()
            out += cfg.short_weight * (self.item_vectors @ (mean / (np.linalg.norm(mean) or 1.0)))
        decay = 0.0
        q = state.query
        if q is not None:
            age_minutes = max(now_us - q.ts_us, 0) / MINUTE_US
            decay = 0.5 ** (age_minutes / cfg.query_half_life_minutes)
            if decay >= cfg.query_floor:
                out += cfg.query_weight * decay * (self.item_vectors @ q.vector)
                out = np.where(self._allowed(q.min_price, q.max_price, q.negations), out, -np.inf)
            else:
                decay = 0.0
        return out, decay

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
        scores, decay = self.scores(state, now_us)
        finite = np.flatnonzero(np.isfinite(scores))
        if len(finite) == 0:
            raise RequestError("recommender: every item is filtered out by the query's constraints")
        pool = finite[top_k(scores[finite][None, :], min(self.config.candidates, len(finite)))[0]]
        request = ExploreRequest(pool, scores[pool], min(k, len(pool)), sparsity(state.n_events))
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
