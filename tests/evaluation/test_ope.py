from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiderec.data.bandit import BanditLog
from tiderec.errors import DatasetError, RequestError
from tiderec.evaluation.ope import dr, empirical_action_dist, ips, on_policy, snips
from tiderec.evaluation.reward import cross_fitted_rates, rate_table
from tiderec.ingest.bandit import read_open_bandit
from tiderec.ingest.datasets import data_root


def _tiny() -> BanditLog:
    return BanditLog(
        actions=np.array([0, 1, 0, 1]),
        positions=np.zeros(4, dtype=np.int64),
        rewards=np.array([1.0, 0.0, 0.0, 1.0]),
        pscores=np.array([0.5, 0.5, 0.25, 0.75]),
        n_actions=2,
        n_positions=1,
    )


def test_estimators_against_hand_computed_values() -> None:
    log = _tiny()
    dist = np.array([[0.8], [0.2]])
    # weights: 0.8/0.5=1.6, 0.2/0.5=0.4, 0.8/0.25=3.2, 0.2/0.75=0.2667
    assert ips(log, dist).value == pytest.approx((1.6 + 0.2 / 0.75) / 4)
    assert snips(log, dist).value == pytest.approx((1.6 + 0.2 / 0.75) / (1.6 + 0.4 + 3.2 + 0.2 / 0.75))
    q = np.array([[0.5], [0.1]])
    direct = 0.8 * 0.5 + 0.2 * 0.1
    terms = [direct + 1.6 * (1 - 0.5), direct + 0.4 * (0 - 0.1), direct + 3.2 * (0 - 0.5), direct + (0.2 / 0.75) * 0.9]
    assert dr(log, dist, q).value == pytest.approx(np.mean(terms))
    per_round = np.broadcast_to(dist, (4, 2, 1)).copy()
    assert ips(log, per_round).value == pytest.approx(ips(log, dist).value)
    assert dr(log, per_round, np.broadcast_to(q, (4, 2, 1)).copy()).value == pytest.approx(np.mean(terms))


def test_clipping_is_counted() -> None:
    est = ips(_tiny(), np.array([[0.8], [0.2]]), max_weight=2.0)
    assert est.clipped == 1
    assert est.value == pytest.approx((1.6 + 0.2 / 0.75) / 4)
    assert ips(_tiny(), np.array([[0.8], [0.2]]), max_weight=1.0).value == pytest.approx((1.0 + 0.2 / 0.75) / 4)


def test_estimators_recover_a_known_value_on_a_synthetic_bandit() -> None:
    rng = np.random.default_rng(42)
    n, n_actions, n_positions = 60_000, 6, 2
    rate = rng.uniform(0.05, 0.4, size=(n_actions, n_positions))
    actions = rng.integers(0, n_actions, size=n)
    positions = rng.integers(0, n_positions, size=n)
    log = BanditLog(
        actions,
        positions,
        (rng.random(n) < rate[actions, positions]).astype(float),
        np.full(n, 1 / n_actions),
        n_actions,
        n_positions,
    )
    target = rng.dirichlet(np.full(n_actions, 0.3), size=n_positions).T
    truth = float((target * rate).sum(axis=0).mean())
    for est in (ips(log, target), snips(log, target), dr(log, target, cross_fitted_rates(log))):
        assert est.covers(truth), est
        assert abs(est.value - truth) / truth < 0.05
        assert est.high - est.low < 0.2 * truth


def test_reward_model_is_cross_fitted() -> None:
    actions = np.array([0] * 10 + [1])
    rewards = np.array([0.0] * 10 + [1.0])
    log = BanditLog(actions, np.zeros(11, dtype=np.int64), rewards, np.full(11, 0.5), 3, 1)
    table = rate_table(log, prior_strength=0.0)
    assert table[:, 0].tolist() == [0.0, 1.0, 1 / 11]
    assert rate_table(log, prior_strength=11.0)[1, 0] == pytest.approx((1 + 11 * (1 / 11)) / 12)
    for seed in range(5):
        folds = cross_fitted_rates(log, folds=2, prior_strength=0.0, seed=seed)
        assert folds[10, 1, 0] == 0.0


def test_bad_logs_and_shapes_are_clear_errors() -> None:
    with pytest.raises(RequestError, match=r"round 1: pscore expected a propensity in \(0, 1\], got 0.0"):
        BanditLog(np.array([0, 1]), np.zeros(2, dtype=np.int64), np.zeros(2), np.array([0.5, 0.0]), 2, 1)
    with pytest.raises(RequestError, match=r"round 0: action expected an action index in \[0, 2\)"):
        BanditLog(np.array([2, 1]), np.zeros(2, dtype=np.int64), np.zeros(2), np.full(2, 0.5), 2, 1)
    with pytest.raises(RequestError, match=r"action_dist: expected shape \(2, 1\)"):
        ips(_tiny(), np.ones((3, 1)))
    assert on_policy(np.array([0.0, 1.0])).value == 0.5


OBD = data_root() / "open-bandit"


def test_reads_the_open_bandit_dataset() -> None:
    log = read_open_bandit(OBD / "random" / "men" / "men.csv")
    assert (len(log), log.n_actions, log.n_positions) == (10_000, 34, 3)
    assert np.allclose(log.pscores, 1 / 34)
    assert log.contexts is not None
    assert log.contexts.shape == (10_000, 34)
    assert set(np.unique(log.positions).tolist()) == {0, 1, 2}


def test_bad_bandit_files_name_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "item_context.csv").write_text(",item_id\n0,0\n1,1\n")
    bad = tmp_path / "log.csv"
    bad.write_text("item_id,position,click,propensity_score\n0,1,0,0.5\n1,2,1,0\n")
    with pytest.raises(
        DatasetError, match=r"log.csv:3: column 'propensity_score' .*expected a probability in \(0, 1\], got '0.0'"
    ):
        read_open_bandit(bad)
    missing = tmp_path / "nocol.csv"
    missing.write_text("item_id,position,propensity_score\n0,1,0.5\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['click'\]"):
        read_open_bandit(missing)
    wrong_item = tmp_path / "item.csv"
    wrong_item.write_text("item_id,position,click,propensity_score\n5,1,0,0.5\n")
    with pytest.raises(DatasetError, match=r"item.csv:2: column 'item_id'.*in \[0, 2\)"):
        read_open_bandit(wrong_item)


def test_empirical_action_dist_is_the_log_frequency_per_position() -> None:
    log = BanditLog(np.array([0, 0, 1, 2]), np.array([0, 0, 0, 1]), np.zeros(4), np.full(4, 0.5), 3, 2)
    dist = empirical_action_dist(log)
    np.testing.assert_allclose(dist, [[2 / 3, 0.0], [1 / 3, 0.0], [0.0, 1.0]])
