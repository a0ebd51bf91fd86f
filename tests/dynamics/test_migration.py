from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tiderec.data.space import InterestSpace, cooccurrence_vectors, interest_space
from tiderec.dynamics.migration import (
    MigrationConfig,
    could_declare_many,
    could_ever_declare,
    detect,
    dominant_change,
)
from tiderec.errors import ConfigError, DatasetError
from tiderec.types import Items

RUNNING, OUTDOOR, BOOKS = 0, 1, 2


def _alternating(n: int, codes: tuple[int, ...]) -> list[int]:
    return [codes[i % len(codes)] for i in range(n)]


def test_a_two_interest_user_migrates_at_the_right_event() -> None:
    history = np.array([RUNNING] * 20 + [OUTDOOR] * 15)
    (found,) = detect(history, MigrationConfig(z=0.0))
    assert found.kind == "migration"
    assert found.start_index == 20
    assert found.at_index == 22
    assert found.from_ == [(RUNNING, 1.0)]
    assert found.to == [(OUTDOOR, 1.0)]
    assert 0.9 <= found.confidence <= 1.0


def test_excursion_new_interest_and_one_odd_click() -> None:
    cfg = MigrationConfig(z=0.0)
    excursion = np.array([RUNNING] * 20 + [BOOKS] * 3 + [RUNNING] * 10)
    assert [m.kind for m in detect(excursion, cfg)] == ["excursion"]
    added = np.array([RUNNING] * 20 + [OUTDOOR] * 3 + _alternating(10, (RUNNING, OUTDOOR)))
    assert [m.kind for m in detect(added, cfg)] == ["new_interest"]
    odd = np.array([RUNNING] * 20 + [BOOKS] + [RUNNING] * 10)
    assert detect(odd, cfg) == []
    assert detect(np.array([], dtype=np.int64), cfg) == []


def test_unknown_events_are_skipped_and_the_end_is_provisional() -> None:
    history = np.array([RUNNING] * 10 + [-1, OUTDOOR, -1, OUTDOOR, OUTDOOR])
    (found,) = detect(history, MigrationConfig(z=0.0))
    assert found.at_index == 14
    assert found.kind == "migration"
    assert found.confidence == pytest.approx(0.5)


def test_related_interests_are_not_novel_with_vectors() -> None:
    vectors = np.array([[1.0, 0.0], [0.995, 0.0998], [0.0, 1.0]], dtype=np.float32)
    near = np.array([RUNNING] * 20 + [OUTDOOR] * 10)
    assert detect(near, MigrationConfig(z=0.0), vectors) == []
    assert detect(near, MigrationConfig(z=0.0)) != []
    far = np.array([RUNNING] * 20 + [BOOKS] * 10)
    assert [m.at_index for m in detect(far, MigrationConfig(z=0.0), vectors)] == [22]


def test_the_replayed_rule_never_rules_out_a_change_detect_declares() -> None:
    """could_declare_many rules out the rows where detect (from `first` on) declares nothing and keeps the others:
    random and blocky sequences, with and without vectors near the novelty threshold, varied settings, rows of
    different lengths padded with -1. Only near-ties of float32 cosines keep a row without a change. detect's
    `first` drops the earlier changes and nothing else."""
    rng = np.random.default_rng(0)
    kept = {True: 0, False: 0}
    for trial in range(400):
        n_codes = int(rng.integers(1, 8))
        codes = rng.integers(-1, n_codes, int(rng.integers(1, 60)))
        if trial % 4 >= 2:
            codes = np.repeat(rng.integers(0, n_codes, 10), rng.integers(1, 9, 10))
        vectors = None
        if trial % 2:
            mix = float(rng.uniform(0.2, 0.6))
            raw = mix * rng.normal(size=16) + (1 - mix) * rng.normal(size=(n_codes, 16)) / 4
            vectors = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
        cfg = MigrationConfig(persist=int(rng.integers(1, 4)), min_history=int(rng.integers(1, 6)),
                              min_novelty=float(rng.uniform(0.3, 0.9)))  # fmt: skip
        first = int(rng.integers(0, len(codes) + 1))
        rows = np.full((2, len(codes) + 3), -1, dtype=np.int64)
        rows[1, : len(codes)] = codes
        possible = could_declare_many(rows, np.array([0, first]), cfg, vectors)
        found = detect(codes.astype(np.int64), cfg, vectors, first=first)
        assert found == [m for m in detect(codes.astype(np.int64), cfg, vectors) if m.at_index >= first]
        assert not possible[0]
        assert possible[1] or not found
        if possible[1]:
            kept[bool(found)] += 1
        if vectors is None:
            assert possible[1] == bool(found)
    assert kept[True] > 50
    assert kept[False] <= 0.1 * kept[True]


def test_interests_too_near_for_any_change() -> None:
    near = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    far = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert not could_ever_declare(near)
    assert could_ever_declare(far)
    assert could_ever_declare(None)
    assert could_ever_declare(near * 2)
    history = np.array([0] * 20 + [1] * 10)
    assert detect(history, vectors=near) == []
    assert detect(history, vectors=far) != []


def test_baseline_and_settings() -> None:
    history = np.array([RUNNING] * 20 + [OUTDOOR] * 10)
    assert dominant_change(history) == [22]
    with pytest.raises(ConfigError, match="min_novelty must lie in"):
        MigrationConfig(min_novelty=0.0)


def test_interest_space_from_categories_or_clusters() -> None:
    items = Items.from_frame(
        pl.DataFrame(
            {"item_id": ["a", "b", "c", "d"], "title": ["trail shoe", "running shoe", "tent", "camping tent"]},
        )
    )
    with pytest.raises(DatasetError, match="give item vectors"):
        interest_space(items, None)
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    space = InterestSpace.of_vectors(vectors, items.frame["title"].to_list(), k=2, seed=0)
    assert space.codes[0] == space.codes[1] != space.codes[2] == space.codes[3]
    assert "shoe" in space.label(int(space.codes[0]))
    assert "tent" in space.label(int(space.codes[2]))
    assert space.vectors is not None
    np.testing.assert_allclose(np.linalg.norm(space.vectors, axis=1), 1.0, rtol=1e-5)


def test_cooccurrence_vectors_put_co_browsed_interests_together() -> None:
    rng = np.random.default_rng(0)
    sequences = [rng.choice([0, 1], size=30) if u % 2 else rng.choice([2, 3], size=30) for u in range(40)]
    vectors = cooccurrence_vectors(sequences, 4, dim=2, window=3)
    assert vectors.shape == (4, 2)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_large_catalogues_cluster_with_blas_kmeans(monkeypatch: pytest.MonkeyPatch) -> None:
    from tiderec.data import space as space_module

    monkeypatch.setattr(space_module, "SCIPY_KMEANS_MAX", 10)
    rng = np.random.default_rng(3)
    centres = np.eye(8, dtype=np.float32)[:4] * 5
    truth = np.repeat(np.arange(4), 50)
    vectors = centres[truth] + rng.normal(0, 0.3, (200, 8)).astype(np.float32)
    titles: list[str | None] = [["trail shoe", "dome tent", "river kayak", "desk lamp"][t] for t in truth]
    space = InterestSpace.of_vectors(vectors, titles, k=4, seed=0)
    pairs = {(int(t), int(c)) for t, c in zip(truth, space.codes, strict=True)}
    assert len(pairs) == 4
    assert len({c for _, c in pairs}) == 4
    assert sorted(space.labels) == ["desk lamp", "dome tent", "kayak river", "shoe trail"]
