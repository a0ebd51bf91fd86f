from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tiderec.data.interactions import Interactions
from tiderec.dynamics.shortterm import Mix, NextInterest, choose_mix, top_k_accuracy
from tiderec.types import Events

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_top_k_accuracy_breaks_ties_against_the_truth() -> None:
    scores = np.array([[0.5, 0.5, 0.1], [0.9, 0.2, 0.3], [0.1, 0.2, 0.3]])
    acc = top_k_accuracy(scores, np.array([1, 0, 0]), ks=(1, 2))
    assert acc == {"top1": pytest.approx(1 / 3), "top2": pytest.approx(2 / 3)}


def _inter() -> Interactions:
    """Shoppers alternate shoes (items 0, 1) -> tents (items 2, 3); books (item 4) are popular on their own."""
    rows = []
    for u in range(10):
        for k, item in enumerate([0, 2, 1, 3] if u < 6 else [4, 4, 4, 4]):
            rows.append((f"u{u}", f"i{item}", T0 + timedelta(hours=10 * u + k), "view"))
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "ts", "event_type"], orient="row")
    return Interactions.from_events(Events.from_frame(frame))


def test_next_interest_uses_transitions_and_recency() -> None:
    inter = _inter()
    raw = np.array([int(i[1:]) for i in inter.item_vocab.ids.to_list()])
    codes = np.array([0, 0, 1, 1, 2])[raw]
    model = NextInterest(inter, codes, 3)
    shoes = np.flatnonzero(raw == 1)
    only_moves = model.scores([shoes], Mix(recent=0.0, transition=1.0, popularity=0.0))
    assert int(np.argmax(only_moves[0])) == 1
    only_recent = model.scores([shoes], Mix(recent=1.0, transition=0.0, popularity=0.0))
    assert int(np.argmax(only_recent[0])) == 0
    assert int(np.argmax(model.last_interest([shoes])[0])) == 0
    assert int(np.argmax(model.scores([np.array([], dtype=np.int64)], Mix())[0])) == 2
    chosen = choose_mix(model, [shoes, shoes], np.array([1, 1]))
    assert chosen.transition > 0
