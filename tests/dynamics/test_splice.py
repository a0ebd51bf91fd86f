from __future__ import annotations

import numpy as np
import pytest

from tiderec.dynamics.logistic import Logistic
from tiderec.dynamics.migration import MigrationConfig, detect, learn_detector
from tiderec.dynamics.splice import FEATURES, SpliceDetector, candidates, dominant, fit_detector, splice, splice_score
from tiderec.errors import ConfigError, DatasetError

N_INTERESTS = 40


def _users(n: int, rng: np.random.Generator, length: int = 40) -> list[np.ndarray]:
    """Steady synthetic shoppers: each keeps to 3 interests of its own, with an odd click elsewhere 5% of the time."""
    out = []
    for _ in range(n):
        own = rng.choice(N_INTERESTS, size=3, replace=False)
        codes = rng.choice(own, size=length)
        odd = rng.random(length) < 0.05
        codes[odd] = rng.integers(0, N_INTERESTS, size=int(odd.sum()))
        out.append(codes.astype(np.int64))
    return out


def test_splice_joins_a_whole_history_to_the_start_of_another_with_a_different_dominant_interest() -> None:
    a = np.array([1] * 25, dtype=np.int64)
    b = np.array([2] * 40, dtype=np.int64)
    same = np.array([1] * 30, dtype=np.int64)
    for codes, cp in splice([a, b, same], 20, np.random.default_rng(0)):
        assert cp in (25, 30, 40)
        assert len(codes) == cp + 30 or (cp == 40 and len(codes) == 65)
        assert np.bincount(codes[:cp]).argmax() != np.bincount(codes[cp:]).argmax()
    with pytest.raises(DatasetError, match="two different dominant"):
        splice([a, same, np.full(5, -1, dtype=np.int64)], 1, np.random.default_rng(0))
    with pytest.raises(DatasetError, match="no dominant"):
        dominant(np.full(5, -1, dtype=np.int64))


def test_splice_score_counts_the_first_hit_in_the_window_and_every_other_declaration_as_false() -> None:
    spliced = [(np.zeros(50, dtype=np.int64), 20), (np.ones(50, dtype=np.int64), 20)]
    plain = [np.zeros(30, dtype=np.int64), np.ones(30, dtype=np.int64)]
    declared = {0: [3, 22, 25], 1: [31]}

    def alarms(codes: np.ndarray) -> list[int]:
        return declared[int(codes[0])] if len(codes) == 50 else ([7] if codes[0] == 0 else [])

    result = splice_score(spliced, plain, alarms)
    assert result["recall"] == 0.5
    assert result["precision"] == pytest.approx(1 / 4)
    assert result["median_delay"] == 2.0
    assert result["false_alarms_in_splices"] == 3
    assert result["unspliced_users_with_alarm"] == 0.5


def test_candidates_are_new_interests_with_a_full_look_ahead() -> None:
    known = np.array([0, 0, 1, 0, 1, 2, 3, 0, 4, 5], dtype=np.int64)
    log_pop = np.zeros(6)
    positions, features = candidates(known, look_ahead=3, min_history=4, log_pop=log_pop)
    assert positions.tolist() == [5, 6]
    assert features.shape == (2, len(FEATURES))
    first = dict(zip(FEATURES, features[0].tolist(), strict=True))
    assert first["log events before"] == pytest.approx(np.log(5))
    assert first["distinct interests / events before"] == pytest.approx(2 / 5)
    assert first["share of the look-ahead in new interests"] == pytest.approx(2 / 3)
    assert first["leading run of new interests"] == 2.0
    assert first["distinct new interests in the look-ahead"] == 2.0
    assert first["largest old share in the look-ahead"] == pytest.approx(3 / 5)
    assert first["previous event was a new interest"] == 0.0
    assert dict(zip(FEATURES, features[1].tolist(), strict=True))["previous event was a new interest"] == 1.0


def _always(look_ahead: int, hindsight: bool) -> SpliceDetector:
    """A detector whose model gives every candidate probability ~1."""
    model = Logistic(np.zeros(len(FEATURES)), 10.0, np.zeros(len(FEATURES)), np.ones(len(FEATURES)))
    return SpliceDetector(model, 0.5, look_ahead, 2, np.zeros(N_INTERESTS), hindsight)


def test_declarations_do_not_overlap_and_hindsight_dates_them_at_the_candidate() -> None:
    known = np.array([0, 0, 1, 2, 3, 4, 0, 5, 6], dtype=np.int64)
    assert [(p, at) for p, at, _ in _always(3, False).alarms(known)] == [(2, 4), (5, 7)]
    assert [(p, at) for p, at, _ in _always(3, True).alarms(known)] == [(2, 2), (5, 5)]
    positions, _ = candidates(known, look_ahead=3, min_history=2, log_pop=np.zeros(N_INTERESTS))
    assert positions.tolist() == [2, 3, 4, 5]
    with pytest.raises(ConfigError, match="look_ahead"):
        fit_detector(_users(30, np.random.default_rng(0)), N_INTERESTS, np.random.default_rng(0), look_ahead=31)
    with pytest.raises(ConfigError, match="min_history"):
        fit_detector(_users(30, np.random.default_rng(0)), N_INTERESTS, np.random.default_rng(0), min_history=0)
    with pytest.raises(DatasetError, match="no candidate finds a change point"):
        fit_detector(_users(30, np.random.default_rng(0)), N_INTERESTS, np.random.default_rng(0), min_history=500)


def test_a_learned_detector_finds_splices_and_stays_quiet_on_steady_users() -> None:
    rng = np.random.default_rng(3)
    detector = fit_detector(_users(120, rng), N_INTERESTS, np.random.default_rng(0), n_splices=300)
    held_out = _users(100, rng)
    spliced = splice(held_out, 200, np.random.default_rng(1))

    def alarms(codes: np.ndarray) -> list[int]:
        return [at for _, at, _ in detector.alarms(codes)]

    result = splice_score(spliced, held_out, alarms)
    assert result["recall"] >= 0.8
    assert result["unspliced_users_with_alarm"] <= 0.1
    assert result["median_delay"] <= 4
    with pytest.raises(DatasetError, match=r"interest codes must lie in \[0, 40\)"):
        detector.scores(np.array([0, 1, 40], dtype=np.int64))
    with pytest.raises(DatasetError, match=">= 20 histories"):
        fit_detector(_users(10, rng), N_INTERESTS, np.random.default_rng(0))


def test_detect_with_the_learned_detector_reads_kinds_against_the_profile_at_the_candidate() -> None:
    rng = np.random.default_rng(5)
    config = MigrationConfig(detector="learned")
    learned = learn_detector(_users(120, rng), N_INTERESTS, config)
    assert learned is not None
    assert learn_detector(_users(30, rng), N_INTERESTS, MigrationConfig()) is None
    history = np.array([0, 1, 2] * 10 + [-1] + [30, 31, 32] * 10, dtype=np.int64)
    found = detect(history, config, learned=learned)
    assert found
    first = found[0]
    assert 31 <= first.start_index < 31 + 10
    assert first.at_index == first.start_index + config.look_ahead - 1
    assert first.kind == "migration"
    assert {c for c, _ in first.from_} == {0, 1, 2}
    assert {c for c, _ in first.to} <= {30, 31, 32}
    assert 0.0 < first.confidence <= 1.0
    with pytest.raises(ConfigError, match="needs a fitted detector"):
        detect(history, config)
    gap = np.array([0, 1, 2, 0, 1, 5, -1, 1, 6, 7], dtype=np.int64)
    changes = detect(gap, MigrationConfig(detector="learned", look_ahead=3), learned=_always(3, False))
    assert [(c.start_index, c.at_index) for c in changes] == [(2, 4), (5, 8)]
    assert changes[1].to == [(5, 0.5), (6, 0.5)]


@pytest.mark.parametrize(
    "settings", [{"detector": "model"}, {"look_ahead": 0}, {"max_alarm_share": 0.0}, {"max_alarm_share": 1.5}]
)
def test_learned_settings_are_checked(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        MigrationConfig(**settings)  # type: ignore[arg-type]
