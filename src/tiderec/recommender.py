"""The facade: a user's interest state (+ the time now) -> a ranked, explained list of items.

With a model, the score of an item is the model's own score (`SequenceModel.scores`, the function `tiderec
evaluate` and `tiderec recommend` rank with: state, repeat and co-occurrence terms), read at the request's moment
from the state kept per user; so with no live query and exploration off, the served list is the model's list.
The terms on top live in `Recommender.score` alone: while the user's last query is alive (decay = 0.5 per
`query_half_life_minutes`, until it falls below `query_floor`) the model score is z-scored over the candidates
and query_weight x decay x cosine(item vector, query vector) is added, and its price limits and negated phrases
filter the catalogue. Without a model, a user is scored by short_weight x cosine(item vector, short-term profile).
A user with no known item gets the training popularity (the batch path's fallback, z-scored under a live query),
and the response says so.

Candidates: every item when the catalogue is scanned exactly; above `IndexConfig.scan_below`, the retrieval
index's top `candidates` by the state's inner product with the item table, plus every item the history terms can
reach (`SequenceModel.reachable`), plus the text index's top `candidates` for a live query. The exploration
policy serves k of them with propensities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tiderec.config import STRICT
from tiderec.data.sequences import gap_bucket
from tiderec.errors import RequestError
from tiderec.explore.greedy import Greedy
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.explore.uncertainty import sparsity
from tiderec.interest.state import InterestState
from tiderec.metrics import top_k
from tiderec.models.scorer import TorchScorer
from tiderec.ranking.retrieval import IndexConfig, ItemIndex
from tiderec.train.checkpoint import SavedModel
from tiderec.types import MINUTE_US, ItemList


@dataclass(frozen=True)
class RecommenderConfig:
    __pydantic_config__ = STRICT

    short_weight: float = 0.5
    """Without a model: the weight of cosine(item vector, short-term profile) beside a live query's term."""
    query_weight: float = 2.0
    query_half_life_minutes: float = 30.0
    query_floor: float = 0.05
    candidates: int = 200
    index: IndexConfig = field(default_factory=IndexConfig)


@dataclass(frozen=True)
class ServingModel:
    """A trained model as the recommender uses it: its scorer (item table computed once), the history length it
    was trained on, its training popularity float[N] (the fallback) and whether seen items are removed by
    default (the scoring it was selected on)."""

    scorer: TorchScorer
    max_len: int
    popularity: np.ndarray
    exclude_seen: bool = False

    @classmethod
    def of(cls, saved: SavedModel) -> ServingModel:
        scorer = TorchScorer(saved.model_name, saved.model, frozen=True)
        return cls(scorer, int(saved.manifest["max_len"]), saved.popularity, saved.exclude_seen)


@dataclass(frozen=True)
class Scored:
    """Candidate items int64[C] with their scores float64[C] (-inf: filtered), the live query's weight in [0, 1],
    the fallback that served a user the model cannot score (None: the model did) and whether seen items were
    left out."""

    items: np.ndarray
    scores: np.ndarray
    decay: float
    fallback: str | None
    exclude_seen: bool = False


@dataclass(frozen=True)
class Served:
    """The served list, a reason per item ('asked for: ...', 'recent interest', 'exploring', ...), the
    fallback that served it (None: the model, or the text profile when there is no model) and whether seen items
    were left out."""

    items: ItemList
    reasons: list[str] = field(default_factory=list)
    fallback: str | None = None
    exclude_seen: bool = False


@dataclass(frozen=True)
class Request:
    """One user's request: its state, how many items, the moment (µs), the exploration seed and policy (None:
    the recommender's) and whether seen items are left out (None: the model's default)."""

    state: InterestState
    k: int
    now_us: int
    seed: int = 0
    policy: Policy | None = None
    exclude_seen: bool | None = None


class Recommender:
    """model: a trained model (or None: text profiles only); item_vectors float32[N, d] unit rows in the same
    space as the queries' vectors (None: no text, so no queries); prices float[N] (NaN unknown); texts: item
    titles for negations; popularity float[N]: the fallback without a model."""

    def __init__(
        self,
        model: ServingModel | None,
        item_vectors: np.ndarray | None,
        prices: np.ndarray,
        texts: list[str],
        config: RecommenderConfig | None = None,
        policy: Policy | None = None,
        popularity: np.ndarray | None = None,
    ) -> None:
        n = len(prices)
        if len(texts) != n or (item_vectors is not None and len(item_vectors) != n):
            raise RequestError(f"recommender: item_vectors, prices and texts must all have {n} rows")
        if model is not None and model.scorer.n_items > n:
            raise RequestError(f"recommender: the model knows {model.scorer.n_items} items, the catalogue {n}")
        self.model = model
        self.prices, self.texts = prices.astype(np.float64), [t.lower() for t in texts]
        self.config = config or RecommenderConfig()
        self.policy = policy or Greedy()
        pop = model.popularity if model is not None else popularity
        self.popularity = np.zeros(n) if pop is None else np.asarray(pop, dtype=np.float64)
        self.popularity = np.concatenate([self.popularity, np.zeros(n - len(self.popularity))])[:n]
        self.text_index = None if item_vectors is None else ItemIndex(item_vectors, self.config.index)
        self.model_index: ItemIndex | None = None
        if model is not None:
            table = model.scorer.table
            if table is None:
                raise RequestError("recommender: serving needs a frozen scorer (TorchScorer(..., frozen=True))")
            rows = table.float().cpu().numpy()
            keys = np.concatenate([rows, np.repeat(rows.mean(axis=0, keepdims=True), n - len(rows), axis=0)])
            self.model_index = ItemIndex(keys, self.config.index)

    @property
    def n_items(self) -> int:
        return len(self.prices)

    @property
    def item_vectors(self) -> np.ndarray | None:
        """float32[N, d]: the items' text vectors (None: the catalogue has none)."""
        return None if self.text_index is None else self.text_index.keys

    def add_items(self, rows: np.ndarray, vectors: np.ndarray | None, prices: np.ndarray, texts: list[str]) -> None:
        """Insert or update items at indices `rows` (new indices extend the catalogue): they are candidates and
        scored at once, by text and, for the model, with the mean item row until it is retrained (updated items
        keep their model row)."""
        old = self.n_items
        n = max(old, int(rows.max()) + 1)
        if n > old:
            self.prices = np.concatenate([self.prices, np.full(n - old, np.nan)])
            self.texts = self.texts + [""] * (n - old)
            self.popularity = np.concatenate([self.popularity, np.zeros(n - old)])
        if self.text_index is not None:
            if vectors is None:
                raise RequestError("recommender: this catalogue has text vectors; new items need theirs")
            self.text_index.upsert(rows, vectors)
        if self.model_index is not None and self.model is not None:
            fresh = np.setdiff1d(np.union1d(rows, np.arange(old, n)), np.arange(self.model.scorer.n_items))
            if len(fresh):
                mean = self.model_index.keys[: self.model.scorer.n_items].mean(axis=0)
                self.model_index.upsert(fresh, np.repeat(mean[None, :], len(fresh), axis=0))
        self.prices[rows] = prices
        for row, text in zip(rows.tolist(), texts, strict=True):
            self.texts[row] = text.lower()

    def _query(self, state: InterestState, now_us: int) -> tuple[float, np.ndarray | None]:
        """(the user's query's current weight in [0, 1]; the allowed items bool[N] while it filters, else None)."""
        q, cfg = state.query, self.config
        if q is None or self.text_index is None:
            return 0.0, None
        decay = 0.5 ** (max(now_us - q.ts_us, 0) / MINUTE_US / cfg.query_half_life_minutes)
        if decay < cfg.query_floor:
            return 0.0, None
        return decay, self._allowed(q.min_price, q.max_price, q.negations)

    def _history(self, state: InterestState) -> tuple[np.ndarray, int] | None:
        """(the window's items the model knows as ids + 1 int64[T], the newest one's time), or None."""
        assert self.model is not None
        known = [e for e in state.window if 0 <= e.item < self.model.scorer.n_items][-self.model.max_len :]
        if not known or state.model_state is None or state.model_state.size == 0:
            return None
        return np.array([e.item + 1 for e in known], dtype=np.int64), known[-1].ts_us

    def score(self, state: InterestState, now_us: int, exclude_seen: bool | None = None) -> Scored:
        """The candidates and their scores for one user now (`score_many` with one request)."""
        return self.score_many([Request(state, 1, now_us, exclude_seen=exclude_seen)])[0]

    def score_many(self, requests: Sequence[Request], listed: bool = False) -> list[Scored]:
        """The candidates and their scores for each request's user at its moment: the model's score (all the
        model's users in one pass), or the text profile's, or the popularity fallback; then each live query's
        term and filters; then seen items removed when asked (exclude_seen None: the model's default).
        listed: each model-scored user without a live query keeps only the candidates its list is drawn from
        (the best `candidates` once seen items leave), selected for the batch at once; the served lists are the
        same, without a pass over every candidate per user."""
        queries = [self._query(r.state, r.now_us) for r in requests]
        pools = [self._text_pool(r.state, *query) for r, query in zip(requests, queries, strict=True)]
        keeps = [
            self._keep(r) if listed and decay == 0 else None for r, (decay, _) in zip(requests, queries, strict=True)
        ]
        bases = self._bases(requests, pools, keeps)
        return [
            self._finish(r, decay, allowed, *base)
            for r, (decay, allowed), base in zip(requests, queries, bases, strict=True)
        ]

    def _text_pool(self, state: InterestState, decay: float, allowed: np.ndarray | None) -> np.ndarray | None:
        """The text index's candidates for a live query when the index does not scan every item, else None."""
        q = state.query
        if decay > 0 and q is not None and self.text_index is not None and not self.text_index.exact:
            return self.text_index.search(q.vector, self.config.candidates, allowed)[0]
        return None

    def _finish(
        self,
        request: Request,
        decay: float,
        allowed: np.ndarray | None,
        items: np.ndarray,
        base: np.ndarray,
        fallback: str | None,
    ) -> Scored:
        """The query's term and filters and the seen items' removal on top of a user's base scores: the one place
        where anything is added to the model's score."""
        state, q = request.state, request.state.query
        scores = base
        if decay > 0 and q is not None and self.text_index is not None and self.model is None and fallback is None:
            scores = base + self.config.query_weight * decay * (self.text_index.keys[items] @ q.vector)
        elif decay > 0 and q is not None and self.text_index is not None:
            finite = np.isfinite(base)
            spread = float(base[finite].std()) if finite.sum() > 1 else 0.0
            z = (base - (base[finite].mean() if finite.any() else 0.0)) / (spread or 1.0)
            scores = z + self.config.query_weight * decay * (self.text_index.keys[items] @ q.vector)
        if allowed is not None:
            scores = np.where(allowed[items], scores, -np.inf)
        drop_seen = self._drops_seen(request)
        if drop_seen and state.seen:
            scores = np.where(np.isin(items, np.asarray(state.seen, dtype=np.int64)), -np.inf, scores)
        return Scored(items, scores.astype(np.float64), decay, fallback, drop_seen)

    def _drops_seen(self, request: Request) -> bool:
        """Whether the request's seen items leave its list (exclude_seen None: the scoring the model was selected
        on)."""
        exclude = request.exclude_seen
        return (self.model is not None and self.model.exclude_seen) if exclude is None else exclude

    def _keep(self, request: Request) -> int:
        """How many of a user's best-scored candidates its list can be drawn from: `candidates`, plus the seen
        items that may leave first."""
        return self.config.candidates + (len(request.state.seen) if self._drops_seen(request) else 0)

    def _bases(
        self, requests: Sequence[Request], pools: list[np.ndarray | None], keeps: list[int | None]
    ) -> list[tuple[np.ndarray, np.ndarray, str | None]]:
        """Per request (candidate items int64[C], their score before the query's term float64[C], fallback or
        None); the users the model can score are scored together, each cut to its `keeps` best (None: all)."""
        bases: list[tuple[np.ndarray, np.ndarray, str | None] | None] = [None] * len(requests)
        modelled: list[tuple[int, np.ndarray, int]] = []
        for at, request in enumerate(requests):
            history = self._history(request.state) if self.model is not None else None
            if history is not None:
                modelled.append((at, *history))
            else:
                bases[at] = self._unmodelled(request.state, pools[at])
        if modelled:
            scored = self._model_scores([requests[at] for at, _, _ in modelled],
                                        [(h, last, pools[at]) for at, h, last in modelled],
                                        [keeps[at] for at, _, _ in modelled])  # fmt: skip
            for (at, _, _), base in zip(modelled, scored, strict=True):
                bases[at] = base
        return [base for base in bases if base is not None]

    def _unmodelled(
        self, state: InterestState, text_pool: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, str | None]:
        """A user without a model score: the text profile's cosine when there is no model, else popularity."""
        n = self.n_items
        if self.model is None and self.text_index is not None and state.short.weight > 0:
            mean = state.short.mean()
            profile = (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32)
            if self.text_index.exact:
                return np.arange(n), self.config.short_weight * self.text_index.scores(profile).astype(np.float64), None
            pool, _ = self.text_index.search(profile, self.config.candidates)
            items = np.union1d(pool, text_pool if text_pool is not None else pool)
            return items, self.config.short_weight * (self.text_index.keys[items] @ profile).astype(np.float64), None
        return np.arange(n), self.popularity.copy(), "popularity"

    def _model_scores(
        self,
        requests: list[Request],
        histories: list[tuple[np.ndarray, int, np.ndarray | None]],
        keeps: list[int | None],
    ) -> list[tuple[np.ndarray, np.ndarray, str | None]]:
        """The model's own scores at each request's moment, over every item or over each user's candidates
        (the index's, the history terms' and the live query's; all users' candidates scored in one pass, each
        user reading its own), cut to each user's `keeps` best (None: all). histories: (items ids + 1 int64[T],
        newest event's time, text pool) per user."""
        assert self.model is not None
        assert self.model_index is not None
        scorer, n_model = self.model.scorer, self.model.scorer.n_items
        encoded = np.stack([np.asarray(r.state.model_state, dtype=np.float32) for r in requests])  # [B, D]
        last = np.array([last_us for _, last_us, _ in histories], dtype=np.int64)
        gaps = gap_bucket(np.array([r.now_us for r in requests], dtype=np.int64) - last)
        width = max(len(h) for h, _, _ in histories)
        padded = np.zeros((len(requests), width), dtype=np.int64)
        for row, (h, _, _) in enumerate(histories):
            padded[row, width - len(h) :] = h
        moments = scorer.moment_states(encoded, gaps)  # the states read at the moment, for the index and new items
        if self.model_index.exact:
            chosen = None
            model_rows: np.ndarray | None = None
        else:
            chosen = np.zeros((len(requests), self.n_items), dtype=bool)
            chosen[:, :n_model] = scorer.reachable(padded)
            found = self.model_index.search_many(moments, self.config.candidates)
            for row, (pool, (_, _, text_pool)) in enumerate(zip(found, histories, strict=True)):
                chosen[row, pool] = True
                if text_pool is not None:
                    chosen[row, text_pool] = True
            model_rows = np.flatnonzero(chosen[:, :n_model].any(axis=0))  # one shared set: one matrix product
        out: dict[int, tuple[np.ndarray, np.ndarray, str | None]] = {}
        # A scanned catalogue's users are cut to their best in one selection for the batch; an index's pools are
        # small already, and each user reads its own.
        cuts = keeps if chosen is None else [None] * len(keeps)
        cut = np.array([row for row, keep in enumerate(cuts) if keep is not None], dtype=np.int64)
        whole = np.array([row for row, keep in enumerate(cuts) if keep is None], dtype=np.int64)
        if len(cut):
            keep = max(k for k in cuts if k is not None)
            tops, values = scorer.top_encoded(encoded[cut], padded[cut], gaps[cut], keep)
            new = np.arange(n_model, self.n_items)  # items added since the model was trained
            for i, row in enumerate(cut.tolist()):
                finite = np.isfinite(values[i])
                items = np.concatenate([tops[i][finite], new])
                scores = np.concatenate([values[i][finite], self.model_index.keys[new] @ moments[row]])
                order = np.argsort(items, kind="stable")
                out[row] = (items[order], scores[order].astype(np.float64), None)
        if len(whole):
            full = scorer.score_encoded(encoded[whole], padded[whole], gaps[whole], model_rows)  # [b, N_model]
            for i, row in enumerate(whole.tolist()):
                items = np.arange(self.n_items) if chosen is None else np.flatnonzero(chosen[row])
                scores = np.empty(len(items), dtype=np.float64)
                inside = items < n_model
                scores[inside] = full[i, items[inside]]
                scores[~inside] = self.model_index.keys[items[~inside]] @ moments[row]
                out[row] = (items, scores, None)
        return [out[row] for row in range(len(requests))]

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
        self,
        state: InterestState,
        k: int,
        now_us: int,
        seed: int = 0,
        policy: Policy | None = None,
        exclude_seen: bool | None = None,
    ) -> Served:
        """k items for the user now (`recommend_many` with one request); RequestError when nothing is left."""
        served = self.recommend_many([Request(state, k, now_us, seed, policy, exclude_seen)])[0]
        if isinstance(served, RequestError):
            raise served
        return served

    def recommend_many(self, requests: Sequence[Request]) -> list[Served | RequestError]:
        """Each request's k items (fewer when fewer are left) through its exploration policy (else the default),
        each with a reason; a request whose every item is filtered out gets its RequestError, the others their
        lists. The users are scored together (`score_many`), so a batch costs the model one pass."""
        scored = self.score_many(requests, listed=True)
        return [self._serve(r, one) for r, one in zip(requests, scored, strict=True)]

    def _serve(self, request: Request, scored: Scored) -> Served | RequestError:
        finite = np.isfinite(scored.scores)
        if not finite.any():
            return RequestError("recommender: every item is filtered out (the query's constraints or seen items)")
        state = request.state
        items, scores = scored.items[finite], scored.scores[finite]
        best = top_k(scores[None, :], self.config.candidates)[0]
        pool, pool_scores = items[best].astype(np.int64), scores[best]
        explore = ExploreRequest(pool, pool_scores, min(request.k, len(pool)), sparsity(state.n_events))
        served = (request.policy or self.policy).select(explore, request.seed)
        q = state.query
        vectors = self.item_vectors
        reasons = []
        for item, explored in zip(served.items.tolist(), served.explored.tolist(), strict=True):
            if explored:
                reasons.append("exploring")
            elif q is not None and vectors is not None and scored.decay > 0 and float(vectors[item] @ q.vector) >= 0.5:
                reasons.append(f"asked for: {q.text}")
            elif scored.fallback is not None:
                reasons.append(f"{scored.fallback} (no known history)")
            else:
                reasons.append("your recent interests")
        return Served(served, reasons, scored.fallback, scored.exclude_seen)
