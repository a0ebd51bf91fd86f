from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tiderec.clean.pipeline import clean
from tiderec.clean.presets import preset
from tiderec.data.interactions import Interactions
from tiderec.data.space import InterestSpace, interest_space
from tiderec.dynamics.lasting import (
    FEATURES,
    LASTING,
    History,
    Run,
    Stickiness,
    examples,
    feature_matrix,
    fit_lasting,
    runs,
    user_histories,
)
from tiderec.dynamics.logistic import auc, average_precision, best_threshold, f1_at
from tiderec.dynamics.report import _lasting_cell
from tiderec.errors import ConfigError, DatasetError
from tiderec.ingest.datasets import load_dataset
from tiderec.types import HOUR_US, Items

N = 30


def _history(codes: list[int]) -> History:
    n = len(codes)
    return History(np.array(codes, dtype=np.int64), np.arange(n, dtype=np.int64) * HOUR_US, np.zeros(n, np.int8))


def test_runs_are_stretches_of_interests_absent_from_everything_before_them() -> None:
    codes = [0, 1, 0, 1, 0, 2, 3, 0, 1, *([4, 5] * 6), 0]
    found = runs(np.array(codes, dtype=np.int64))
    assert found == [Run(5, 2, True), Run(9, 12, True)]
    assert [r.label for r in found] == [0, 1]
    assert runs(np.array([0, 1, 0, 1, 0, 7, 8], dtype=np.int64))[0].label is None  # ended by the data: unknown
    assert runs(np.array([0, 1, 2, 3], dtype=np.int64)) == []  # too short to have a history


def test_history_of_keeps_known_events_and_rejects_arrays_that_differ() -> None:
    h = History.of(np.array([3, -1, 4]), np.array([1, 2, 3]), np.array([0, 1, 2], dtype=np.int8))
    assert h.codes.tolist() == [3, 4]
    assert h.ts.tolist() == [1, 3]
    assert h.types.tolist() == [0, 2]
    with pytest.raises(DatasetError, match="2 times"):
        History.of(np.array([1, 2, 3]), np.array([1, 2]), np.zeros(3, np.int8))


def _shoppers(n: int, rng: np.random.Generator) -> list[History]:
    """Focused shoppers (2 interests) whose new interests last, and browsers (8 interests) who come back."""
    out = []
    for i in range(n):
        focused = i % 2 == 0
        own = rng.choice(N // 2, size=2 if focused else 8, replace=False)
        codes = list(rng.choice(own, size=20))
        new = rng.choice(np.arange(N // 2, N), size=2, replace=False)
        codes += list(rng.choice(new, size=LASTING + 2)) if focused else [int(new[0]), int(new[1]), int(own[0])]
        codes += list(rng.choice(own, size=5))
        out.append(_history([int(c) for c in codes]))
    return out


def test_fit_lasting_learns_who_stays_and_reports_its_choices() -> None:
    rng = np.random.default_rng(0)
    train, test = _shoppers(200, rng), _shoppers(100, rng)
    model = fit_lasting(train, N, ks=(2,), l2s=(1.0, 10.0))
    assert set(model.l2) == {2}
    assert model.l2[2] in (1.0, 10.0)
    assert set(model.fold_auc[2]) == {1.0, 10.0}
    chosen = examples(test, 2)
    labels = np.array([r.label for _, r in chosen])
    assert auc(model.probabilities(test, chosen, 2), labels) > 0.9
    assert model.probabilities(test, chosen, 4).shape == (len(chosen),)  # k above the fitted ones: k = 2's model
    focused = _history([0, 1, 0, 1, 0, 1, 0, 20, 21])
    run, p = model.current(focused) or (None, 0.0)
    assert run == Run(7, 2, False)
    assert 0.0 <= p <= 1.0
    assert model.current(_history([0, 1, 0, 1, 0, 1, 0, 20, 1])) is None  # back home: no run in progress
    later = _history([0, 1, 0, 1, 0, 1, 0, 20, 21, 1])
    assert _lasting_cell(model, later, 9).endswith("(excursion)")  # the report says how the run turned out
    assert _lasting_cell(model, later, 7) == "–"
    with pytest.raises(ConfigError, match="no model for a run of 1"):
        model.probabilities(test, chosen, 1)


def test_fit_lasting_rejects_bad_settings_and_too_few_runs() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match=r"every k must lie in \[1, 10\)"):
        fit_lasting(_shoppers(50, rng), N, ks=(LASTING,))
    with pytest.raises(DatasetError, match="need >= 20 with both outcomes"):
        fit_lasting(_shoppers(6, rng), N)


def test_features_read_nothing_after_the_kth_event_of_the_run() -> None:
    a = _history([0, 1, 0, 1, 0, 1, 5, 6, 7, 8, 9])
    b = _history([0, 1, 0, 1, 0, 1, 5, 6, 0, 0, 0])
    pop, sticky = np.zeros(N), np.full(N, 0.3)
    rows = [feature_matrix([h], [(0, Run(6, 2, True))], 2, pop, Stickiness(sticky)) for h in (a, b)]
    np.testing.assert_array_equal(rows[0], rows[1])
    assert rows[0].shape == (1, len(FEATURES))


def test_probability_scores() -> None:
    labels = np.array([1, 0, 1, 0, 0])
    assert average_precision(np.array([0.9, 0.8, 0.7, 0.1, 0.0]), labels) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(np.full(5, 0.5), labels) == pytest.approx(0.4)  # a constant gets the base rate
    assert f1_at(np.array([0.9, 0.8, 0.7, 0.1, 0.0]), labels, 0.7) == pytest.approx(2 * 2 / (3 + 2))
    assert best_threshold(np.array([0.9, 0.2, 0.7, 0.1, 0.0]), labels) == pytest.approx(0.7)


def test_attribute_clusters_serve_a_catalogue_without_categories_or_text() -> None:
    items = Items.from_frame(
        pl.DataFrame(
            {
                "item_id": [str(i) for i in range(12)],
                "attributes": [["lip", "red"], ["lip", "pink"], ["lip", "red", "matte"]] * 2
                + [["hair", "oil"], ["hair", "dry"], ["hair", "oil", "argan"]] * 2,
            }
        )
    )
    space = interest_space(items, None, k=2)
    assert space.source.startswith("k-means over attributes")
    assert len(set(space.codes[:6].tolist())) == 1
    assert len(set(space.codes[6:].tolist())) == 1
    assert space.codes[0] != space.codes[6]
    assert "lip" in space.label(int(space.codes[0]))
    assert "hair" in space.label(int(space.codes[6]))
    bare = Items.from_frame(pl.DataFrame({"item_id": ["a", "b"], "attributes": [["x"], ["x"]]}))
    with pytest.raises(DatasetError, match="fewer than 2 values"):
        InterestSpace.of_attributes(bare, 2)


def test_on_real_taobao_histories_the_model_beats_a_constant_on_held_out_users() -> None:
    ds = load_dataset("taobao-userbehavior")
    result = clean(ds.events, ds.items, preset("taobao-userbehavior"))
    inter = Interactions.from_events(result.events, result.user_vocab, result.item_vocab)
    space = interest_space(result.items, None)
    histories = user_histories(inter, space.codes)
    assert len(histories) == inter.n_users
    assert sum(len(h.codes) for h in histories) == int((space.codes[inter.item] >= 0).sum())
    assert all(np.all(np.diff(h.ts) >= 0) for h in histories)
    model = fit_lasting(histories[::2], len(space.labels), ks=(3,), l2s=(10.0,))
    held = histories[1::2]
    chosen = examples(held, 3)
    labels = np.array([r.label for _, r in chosen])
    assert len(chosen) > 200
    assert 0.1 < labels.mean() < 0.6
    assert auc(model.probabilities(held, chosen, 3), labels) > 0.6
