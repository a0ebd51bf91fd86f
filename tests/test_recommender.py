"""The facade: a query moves the very next recommendations toward what was asked, within its limits, and fades."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from tiderec.data.histories import History, arrays_of
from tiderec.errors import RequestError
from tiderec.interest.codec import decode, encode
from tiderec.interest.encoder import model_encoder
from tiderec.interest.state import (
    Event,
    InterestContext,
    InterestState,
    QueryInterest,
    apply_query,
    initial,
    update,
)
from tiderec.metrics import top_k
from tiderec.models.interest import InterestConfig, InterestModel
from tiderec.models.scorer import TorchScorer
from tiderec.ranking.retrieval import IndexConfig
from tiderec.recommender import Recommender, RecommenderConfig, Request, Served, ServingModel
from tiderec.types import MINUTE_US

N = 20
COLOURS = ["red", "blue", "green", "black", "white"]


def _catalogue() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Items 0-9 running shoes (near axis 0), 10-19 tents (near axis 1); a tiny deterministic space."""
    rng = np.random.default_rng(0)
    vectors = np.zeros((N, 8), dtype=np.float32)
    vectors[:10, 0], vectors[10:, 1] = 1.0, 1.0
    vectors += rng.normal(scale=0.05, size=vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    prices = np.array([20.0 + 5 * i for i in range(10)] + [60.0 + 40 * i for i in range(10)])
    texts = [f"running shoe {COLOURS[i % 5]}" for i in range(10)] + [f"tent {COLOURS[i % 5]}" for i in range(10)]
    return vectors, prices, texts


def _shoe_lover(context: InterestContext) -> tuple[InterestState, int]:
    state = initial("u", context)
    for k, item in enumerate([0, 2, 4, 6, 8]):
        state = update(state, Event(f"i{item}", item, (k + 1) * MINUTE_US, 0), context)
    return state, 10 * MINUTE_US


def test_a_query_moves_the_next_list_and_fades() -> None:
    vectors, prices, texts = _catalogue()
    context = InterestContext(vectors, np.array([0] * 10 + [1] * 10))
    state, now = _shoe_lover(context)
    rec = Recommender(None, vectors, prices, texts)
    before = rec.recommend(state, 5, now).items.items
    assert (before < 10).all()
    tent = vectors[10:].mean(axis=0)
    asked = apply_query(state, QueryInterest("tent", tent / np.linalg.norm(tent), now, max_price=300.0,
                                             negations=("red",)))  # fmt: skip
    served = rec.recommend(asked, 5, now + MINUTE_US)
    assert (served.items.items >= 10).all()
    assert all(prices[i] <= 300 for i in served.items.items)
    assert all("red" not in texts[i] for i in served.items.items)
    assert served.reasons[0] == "asked for: tent"
    later = rec.recommend(asked, 5, now + 4 * 60 * MINUTE_US).items.items
    assert (later < 10).all()
    again = decode(encode(asked))
    assert again.query is not None
    assert again.query.negations == ("red",)
    np.testing.assert_array_equal(again.query.vector, asked.query.vector)  # type: ignore[union-attr]


def _model_and_state() -> tuple[ServingModel, InterestContext, InterestState, int]:
    torch.manual_seed(0)
    vectors, _, _ = _catalogue()
    model = InterestModel(N, 8, InterestConfig(dim=16, neighbours=3, shift_min_history=3))
    model.set_neighbours(sp.csr_matrix(np.eye(N, k=1, dtype=np.float32) + np.eye(N, k=-1, dtype=np.float32)))
    model.get_buffer("neighbour_weight").fill_(2.0)
    model.set_interests(np.arange(N) // 4)  # the shoe lover's fifth event (item 8) starts a run in items 8-11
    model.get_buffer("shift_weight").fill_(1.0)
    serving = ServingModel(TorchScorer("tiderec", model, frozen=True), 8, np.arange(N, dtype=np.float32))
    context = InterestContext(vectors, np.zeros(N, dtype=np.int64), encoder=model_encoder(model, 8))
    state, now = _shoe_lover(context)
    return serving, context, state, now


def _batch_scores(serving: ServingModel, state: InterestState, now: int) -> np.ndarray:
    """What `tiderec evaluate` / `tiderec recommend` score for the same history at the same moment."""
    history = History(
        "u",
        np.array([e.item for e in state.window]),
        np.array([e.event_type for e in state.window]),
        np.array([e.ts_us for e in state.window]),
        np.arange(len(state.window)),
    )
    scores: np.ndarray = serving.scorer.score(arrays_of([history], serving.max_len, now))[0]
    return scores


def test_served_scores_are_the_models_own_scores_at_the_requests_moment() -> None:
    """No query, no exploration: the served list and scores are what the batch path scores (repeat,
    co-occurrence and shift terms included), at the moment of the request; seen items leave only when asked."""
    serving, _, state, now = _model_and_state()
    vectors, prices, texts = _catalogue()
    rec = Recommender(serving, vectors, prices, texts)
    for at in (now, now + 3 * 24 * 60 * MINUTE_US):
        batch = _batch_scores(serving, state, at)
        scored = rec.score(state, at)
        assert scored.fallback is None
        np.testing.assert_allclose(scored.scores[np.argsort(scored.items)], batch, rtol=1e-5, atol=1e-5)
        served = rec.recommend(state, 5, at)
        np.testing.assert_array_equal(served.items.items, top_k(batch[None, :], 5)[0])
        np.testing.assert_allclose(served.items.scores, batch[served.items.items], rtol=1e-5)
    kept = rec.recommend(state, N, now, exclude_seen=False).items.items
    dropped = rec.recommend(state, N, now, exclude_seen=True).items.items
    assert set(kept) == set(range(N))
    assert set(dropped) == set(range(N)) - set(state.seen)


def test_an_approximate_index_only_proposes_candidates() -> None:
    """Above scan_below the index proposes candidates (its top by inner product, plus every item the repeat,
    co-occurrence and shift terms reach); each is scored exactly as the full scan scores it."""
    serving, _, state, now = _model_and_state()
    vectors, prices, texts = _catalogue()
    exact = Recommender(serving, vectors, prices, texts)
    small = RecommenderConfig(candidates=3, index=IndexConfig(scan_below=1))
    approx = Recommender(serving, vectors, prices, texts, small)
    scored = approx.score(state, now)
    assert len(scored.items) < N
    assert set(state.seen) <= set(scored.items.tolist())
    assert {8, 9, 10, 11} <= set(scored.items.tolist())
    full = exact.score(state, now).scores
    np.testing.assert_allclose(scored.scores, full[scored.items], rtol=1e-5, atol=1e-5)
    assert approx.recommend(state, 3, now).items.items.tolist() == exact.recommend(state, 3, now).items.items.tolist()


def test_a_scanned_catalogue_serves_each_user_from_its_best_candidates() -> None:
    """Scanned exactly, a batch keeps each user's best `candidates` (plus the seen items that may leave first) in
    one selection: the lists are the top of the full scores, seen items kept or removed."""
    serving, _, state, now = _model_and_state()
    vectors, prices, texts = _catalogue()
    rec = Recommender(serving, vectors, prices, texts, RecommenderConfig(candidates=3))
    scored = rec.score(state, now)
    assert scored.items.tolist() == list(range(N))
    for exclude in (False, True):
        full = scored.scores.copy()
        if exclude:
            full[list(state.seen)] = -np.inf
        served = rec.recommend(state, 3, now, exclude_seen=exclude).items
        assert served.items.tolist() == top_k(full[None, :], 3)[0].tolist()
        np.testing.assert_allclose(served.scores, full[served.items], rtol=1e-5)


def test_a_batch_of_users_is_served_what_each_gets_alone() -> None:
    """recommend_many scores its users in one pass (histories of different lengths, a cold user, a user whose
    every item is filtered out): each list equals the one-by-one list; the failing request alone gets an error."""
    serving, context, state, now = _model_and_state()
    vectors, prices, texts = _catalogue()
    short = update(initial("v", context), Event("i13", 13, MINUTE_US, 0), context)
    cold = initial("w", context)
    gone = apply_query(state, QueryInterest("tent", vectors[10], now, max_price=1.0))
    requests = [Request(state, 5, now), Request(short, 5, now + MINUTE_US), Request(cold, 3, now),
                Request(gone, 3, now), Request(state, N, now + 60 * MINUTE_US, exclude_seen=True)]  # fmt: skip
    small = RecommenderConfig(candidates=3, index=IndexConfig(scan_below=1))
    for rec in (Recommender(serving, vectors, prices, texts), Recommender(serving, vectors, prices, texts, small)):
        batch = rec.recommend_many(requests)
        assert isinstance(batch[3], RequestError)
        for request, served in zip(requests, batch, strict=True):
            if request.state is gone:
                continue
            assert isinstance(served, Served)
            alone = rec.recommend(request.state, request.k, request.now_us, exclude_seen=request.exclude_seen)
            np.testing.assert_array_equal(served.items.items, alone.items.items)
            np.testing.assert_allclose(served.items.scores, alone.items.scores, rtol=1e-5, atol=1e-6)
            assert served.fallback == alone.fallback
        assert batch[2].fallback == "popularity"  # type: ignore[union-attr]


def test_a_live_query_adds_its_term_on_the_z_scored_model_score() -> None:
    serving, _, state, now = _model_and_state()
    vectors, prices, texts = _catalogue()
    rec = Recommender(serving, vectors, prices, texts)
    q = vectors[12] / np.linalg.norm(vectors[12])
    asked = apply_query(state, QueryInterest("tent", q, now, max_price=150.0))
    at = now + 30 * MINUTE_US
    scored = rec.score(asked, at)
    raw = _batch_scores(serving, state, at)[scored.items]
    expected = (raw - raw.mean()) / raw.std() + 2.0 * 0.5 * vectors[scored.items] @ q
    assert scored.decay == 0.5
    allowed = prices[scored.items] <= 150
    np.testing.assert_allclose(scored.scores[allowed], expected[allowed], rtol=1e-4, atol=1e-4)
    assert np.isneginf(scored.scores[~allowed]).all()
    served = rec.recommend(asked, 3, at).items.items
    np.testing.assert_array_equal(served, scored.items[np.argsort(-scored.scores, kind="stable")[:3]])


def test_a_user_without_known_history_gets_the_popularity_fallback() -> None:
    serving, context, _, now = _model_and_state()
    vectors, prices, texts = _catalogue()
    rec = Recommender(serving, vectors, prices, texts)
    served = rec.recommend(initial("new", context), 3, now)
    assert served.fallback == "popularity"
    assert served.items.items.tolist() == [N - 1, N - 2, N - 3]


def test_upserted_items_are_recommendable_and_keep_their_model_row() -> None:
    vectors, prices, texts = _catalogue()
    context = InterestContext(vectors, np.array([0] * 10 + [1] * 10))
    state, now = _shoe_lover(context)
    rec = Recommender(None, vectors, prices, texts)
    shoe = vectors[:10].mean(axis=0)
    rec.add_items(np.array([N + 1]), (shoe / np.linalg.norm(shoe))[None, :], np.array([10.0]), ["best shoe"])
    assert rec.item_vectors is not None
    assert len(rec.item_vectors) == N + 2
    assert np.isnan(rec.prices[N])
    assert rec.recommend(state, 1, now).items.items[0] == N + 1
