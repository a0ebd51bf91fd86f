from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tiderec.data.interactions import Interactions
from tiderec.dynamics.conversion import FEATURES, examples_at
from tiderec.dynamics.logistic import auc, calibration_error, fit_logistic, log_loss
from tiderec.types import Events

CUT = datetime(2024, 1, 2, tzinfo=UTC)


def test_auc_and_losses_by_hand() -> None:
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert auc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)
    assert log_loss(np.array([0.5, 0.5]), np.array([0.0, 1.0])) == pytest.approx(np.log(2))
    probs, labels = np.array([0.2] * 10), np.array([0.0] * 8 + [1.0] * 2)
    assert calibration_error(probs, labels, bins=1) == pytest.approx(0.0)
    assert calibration_error(probs, labels, bins=2) == pytest.approx(0.2)


def test_logistic_regression_recovers_the_signal() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 1.0 * x[:, 1])))
    y = (rng.random(4000) < p).astype(float)
    model = fit_logistic(x, y, l2=1e-3)
    assert model.weights[0] > 1.0
    assert model.weights[1] < -0.6
    assert abs(model.weights[2]) < 0.15
    assert auc(model.predict(x), y) > 0.8


def _events(rows: list[tuple[str, str, datetime, str]]) -> Interactions:
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "ts", "event_type"], orient="row")
    return Interactions.from_events(Events.from_frame(frame))


def test_examples_use_the_past_for_features_and_the_future_for_labels() -> None:
    h = timedelta(hours=1)
    inter = _events(
        [
            ("u", "a", CUT - 30 * h, "view"),
            ("u", "a", CUT - 2 * h, "view"),
            ("u", "b", CUT - 1 * h, "view"),
            ("u", "a", CUT + 1 * h, "cart"),
            ("u", "c", CUT + 2 * h, "view"),
            ("v", "c", CUT + 3 * h, "purchase"),
        ]
    )
    codes = np.zeros(inter.n_items, dtype=np.int64)
    ex = examples_at(inter, codes, int(CUT.timestamp() * 1e6))
    assert ex.features.shape == (2, len(FEATURES))
    items = [inter.item_vocab.ids[i] for i in (0, 1)]
    by_item = dict(zip(sorted(items), ex.labels.tolist(), strict=True))
    assert by_item == {"a": 1.0, "b": 0.0}
    views = sorted(np.expm1(ex.features[:, 0]).round().tolist())
    assert views == [1.0, 2.0]
    assert (ex.users == inter.user_vocab.index_of("u")).all()
