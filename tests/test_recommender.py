"""The facade: a query moves the very next recommendations toward what was asked, within its limits, and fades."""

from __future__ import annotations

import numpy as np
import torch

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
from tiderec.models.interest import InterestConfig, InterestModel
from tiderec.recommender import Recommender
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


def test_the_index_query_gives_the_z_scored_model_plus_text_scores() -> None:
    """One inner product per item equals the score written term by term (z-scored model score + cosines)."""
    torch.manual_seed(0)
    vectors, prices, texts = _catalogue()
    model = InterestModel(N, 8, InterestConfig(dim=16))
    context = InterestContext(vectors, np.zeros(N, dtype=np.int64), encoder=model_encoder(model, 8))
    state, now = _shoe_lover(context)
    q = vectors[12] / np.linalg.norm(vectors[12])
    asked = apply_query(state, QueryInterest("tent", q, now, max_price=150.0))
    rec = Recommender(model, vectors, prices, texts)
    plain, no_query = rec.scores(state, now)
    assert plain.shape == (N,)
    assert np.isfinite(plain).all()
    assert no_query == 0.0
    assert len(rec.recommend(state, 3, now).items) == 3
    scores, decay = rec.scores(asked, now + 30 * MINUTE_US)
    with torch.inference_mode():
        raw = model.item_table().float().numpy() @ asked.model_state
    short = asked.short.mean() / np.linalg.norm(asked.short.mean())
    expected = (raw - raw.mean()) / raw.std() + 0.5 * vectors @ short + 2.0 * 0.5 * vectors @ q
    assert decay == 0.5
    allowed = prices <= 150
    np.testing.assert_allclose(scores[allowed], expected[allowed], rtol=1e-4, atol=1e-4)
    assert np.isneginf(scores[~allowed]).all()
    served = rec.recommend(asked, 3, now + 30 * MINUTE_US).items.items
    np.testing.assert_array_equal(served, np.argsort(-np.where(allowed, expected, -np.inf))[:3])


def test_upserted_items_are_recommendable_and_keep_their_model_row() -> None:
    vectors, prices, texts = _catalogue()
    context = InterestContext(vectors, np.array([0] * 10 + [1] * 10))
    state, now = _shoe_lover(context)
    rec = Recommender(None, vectors, prices, texts)
    shoe = vectors[:10].mean(axis=0)
    rec.add_items(np.array([N + 1]), (shoe / np.linalg.norm(shoe))[None, :], np.array([10.0]), ["best shoe"])
    assert len(rec.item_vectors) == N + 2
    assert np.isnan(rec.prices[N])
    assert rec.recommend(state, 1, now).items.items[0] == N + 1
