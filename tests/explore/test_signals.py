from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tiderec.data.categories import ItemCategories
from tiderec.errors import ConfigError
from tiderec.explore.assign import ExperimentConfig, assign, bucket
from tiderec.explore.uncertainty import category_drift, interest_uncertainty, sparsity
from tiderec.types import Items


def test_sparsity_and_drift() -> None:
    assert sparsity(0) == 1.0
    assert sparsity(10) == 0.5
    stable = np.array([1] * 20)
    moved = np.array([1] * 15 + [2] * 5)
    assert category_drift(stable) == 0.0
    assert category_drift(moved) == pytest.approx(1.0)
    half = np.array([1] * 10 + [1, 1, 2, 2, 2])
    assert 0.0 < category_drift(half) < 1.0
    assert category_drift(np.array([3, -1, 3])) == 0.0
    assert interest_uncertainty(stable) == pytest.approx(10 / 30)
    assert interest_uncertainty(stable, migration=0.9) == 0.9


def test_item_categories_use_the_leaf() -> None:
    frame = pl.DataFrame(
        {"item_id": ["a", "b", "c"], "category": [["shoes", "running"], None, ["outdoor"]]},
        schema={"item_id": pl.String, "category": pl.List(pl.String)},
    )
    cats = ItemCategories.of(Items.from_frame(frame))
    assert cats.names == ["outdoor", "running"]
    assert cats.codes.tolist() == [1, -1, 0]


def test_assignment_is_deterministic_keyed_and_follows_shares() -> None:
    exp = ExperimentConfig(name="e1", variants=("a", "b"), weights=(1.0, 3.0))
    users = [f"u{i}" for i in range(4000)]
    first = [assign(exp, b"key", u) for u in users]
    assert first == [assign(exp, b"key", u) for u in users]
    share_b = first.count("b") / len(users)
    assert abs(share_b - 0.75) < 0.03
    assert first != [assign(exp, b"other", u) for u in users]
    assert bucket(b"key", "e1", "u1") != bucket(b"key", "e2", "u1")
    with pytest.raises(ConfigError, match="two distinct variants"):
        ExperimentConfig(name="x", variants=("a", "a"))
    with pytest.raises(ConfigError, match="one non-negative number per variant"):
        ExperimentConfig(name="x", variants=("a", "b"), weights=(1.0,))
