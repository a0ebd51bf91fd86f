from __future__ import annotations

import numpy as np
import pytest

from tiderec.errors import ConfigError, RequestError
from tiderec.explore.greedy import EpsilonConfig, EpsilonGreedy, Greedy
from tiderec.explore.linear import LinearConfig, LinearState, LinearThompson
from tiderec.explore.log import EXPOSURE_SCHEMA, exposure_table, exposures
from tiderec.explore.policy import ExploreRequest, Policy, position_frequencies
from tiderec.explore.registry import make_policy
from tiderec.explore.seeding import request_seed
from tiderec.explore.softmax import PlackettLuce, SoftmaxConfig
from tiderec.explore.thompson import BetaState, ThompsonConfig, ThompsonSampling


def _request(n: int = 20, k: int = 3, uncertainty: float = 0.0, seed: int = 0) -> ExploreRequest:
    rng = np.random.default_rng(seed)
    return ExploreRequest(np.arange(100, 100 + n), rng.normal(size=n), k, uncertainty)


def test_greedy_shows_the_top_k_with_propensity_one() -> None:
    req = _request()
    served = Greedy().select(req, seed=1)
    assert served.items.tolist() == (100 + req.greedy()[:3]).tolist()
    assert served.propensities.tolist() == [1.0, 1.0, 1.0]
    assert not served.explored.any()


def test_greedy_lists_equal_the_general_policy_path() -> None:
    """Greedy's own `select` skips the generator and marginals; its lists are the ones `Policy.select` gives."""
    ties = ExploreRequest(np.arange(50, 58), np.array([1.0, 3.0, 3.0, 0.5, 3.0, -2.0, 0.0, 1.0]), 4)
    for req in (_request(), _request(n=5, k=5), ties):
        fast, general = Greedy().select(req, seed=7), Policy.select(Greedy(), req, seed=7)
        for name in ("items", "scores", "propensities", "explored"):
            assert getattr(fast, name).tolist() == getattr(general, name).tolist()
            assert getattr(fast, name).dtype == getattr(general, name).dtype
        assert (fast.policy, fast.seed) == (general.policy, general.seed)


def test_epsilon_rate_follows_uncertainty() -> None:
    policy = EpsilonGreedy(EpsilonConfig(eps_min=0.05, eps_max=0.5))
    assert policy.epsilon(_request(uncertainty=0.0)) == pytest.approx(0.05)
    assert policy.epsilon(_request(uncertainty=1.0)) == pytest.approx(0.5)
    assert policy.epsilon(_request(uncertainty=0.5)) == pytest.approx(0.275)


def test_epsilon_marginals_are_a_distribution_per_slot() -> None:
    req = _request(n=6, k=4, uncertainty=1.0)
    marg = EpsilonGreedy().exact_marginals(req)
    np.testing.assert_allclose(marg.sum(axis=0), 1.0)
    assert (marg.sum(axis=1) <= 1.0 + 1e-12).all()
    order = req.greedy()
    assert marg[order[0], 0] == pytest.approx(0.7)
    assert marg[order[5], 1] == pytest.approx(0.3 / 2)
    assert marg[order[2], 2] == 1.0
    assert marg[order[3], 3] == 1.0


def test_an_item_exploitation_never_shows_appears_at_the_rate_the_policy_logs() -> None:
    req = _request(n=20, k=3, uncertainty=1.0)
    policy = EpsilonGreedy(EpsilonConfig(eps_min=0.0, eps_max=0.4))
    tail_item = int(req.candidates[req.greedy()[10]])
    assert tail_item not in Greedy().select(req, 0).items
    draws = 6000
    hits, logged = 0, []
    for s in range(draws):
        served = policy.select(req, request_seed(7, "user", s))
        where = np.flatnonzero(served.items == tail_item)
        if len(where) and where[0] == 0:
            hits += 1
            logged.append(served.propensities[0])
            assert served.explored[0]
    expected = 0.4 / 17
    assert logged
    assert np.allclose(logged, expected)
    se = np.sqrt(expected * (1 - expected) / draws)
    assert abs(hits / draws - expected) < 4 * se


@pytest.mark.parametrize(
    "policy",
    [
        PlackettLuce(SoftmaxConfig(temperature=0.7, simulations=4000)),
        ThompsonSampling(BetaState(np.arange(20.0), np.full(20, 30.0)), ThompsonConfig(simulations=4000)),
    ],
    ids=["softmax", "thompson"],
)
def test_simulated_propensities_match_the_served_frequencies(policy: Policy) -> None:
    req = ExploreRequest(np.arange(20), np.random.default_rng(3).normal(size=20), 3)
    marg = policy.marginals(req, np.random.default_rng(0))
    np.testing.assert_allclose(marg.sum(axis=0), 1.0)
    served = np.stack([policy.sample(req, np.random.default_rng(1000 + s), 1)[0] for s in range(3000)])
    freq = position_frequencies(served, 20)
    assert np.abs(freq - marg).max() < 0.035


def test_softmax_first_position_is_the_softmax_probability() -> None:
    req = _request(n=8, k=2)
    policy = PlackettLuce(SoftmaxConfig(temperature=1.0, simulations=20000))
    marg = policy.marginals(req, np.random.default_rng(0))
    soft = np.exp(req.scores) / np.exp(req.scores).sum()
    np.testing.assert_allclose(marg[:, 0], soft, atol=0.012)
    hot = PlackettLuce(SoftmaxConfig(temperature=1.0, boost=3.0))
    assert hot.temperature(_request(uncertainty=1.0)) == pytest.approx(4.0)


def test_served_lists_replay_from_their_seed() -> None:
    req = _request(uncertainty=1.0)
    policy = PlackettLuce()
    a, b = policy.select(req, 11), policy.select(req, 11)
    assert a.items.tolist() == b.items.tolist()
    assert np.array_equal(a.propensities, b.propensities)
    others = {tuple(policy.select(req, s).items.tolist()) for s in range(20)}
    assert len(others) > 1
    assert (a.propensities > 0).all()
    assert a.seed == 11
    assert a.policy.startswith("softmax")


def test_thompson_learns_the_rewarding_arm_and_updates_purely() -> None:
    state = BetaState.empty(10)
    items = np.repeat(np.arange(10), 40)
    rewards = (items == 7).astype(float)
    learned = state.update(items, rewards)
    assert state.successes.sum() == 0
    assert state.updates == 0
    assert learned.successes[7] == 40
    assert learned.failures[7] == 0
    assert learned.updates == 1
    req = ExploreRequest(np.arange(10), np.zeros(10), 1)
    served = ThompsonSampling(learned).select(req, 3)
    assert served.items.tolist() == [7]
    assert served.propensities[0] > 0.95
    with pytest.raises(RequestError, match="rewards must lie in"):
        state.update(np.array([1]), np.array([2.0]))


def test_thompson_clusters_share_a_draw_and_keep_the_model_order() -> None:
    groups = np.array([0, 0, 0, 1, 1, 1])
    state = BetaState(np.array([50.0, 0.0]), np.array([0.0, 50.0]), groups)
    req = ExploreRequest(np.arange(6), np.array([0.1, 0.9, 0.5, 3.0, 2.0, 1.0]), 3)
    served = ThompsonSampling(state).select(req, 0)
    assert served.items.tolist() == [1, 2, 0]


def test_linear_thompson_finds_the_best_direction() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([1.0, -1.0, 0.5, 0.0])
    feats = rng.normal(size=(500, 4))
    state = LinearState.prior(4).update(feats, feats @ truth + rng.normal(scale=0.1, size=500))
    cands = rng.normal(size=(30, 4))
    req = ExploreRequest(np.arange(30), np.zeros(30), 1, features=cands)
    served = LinearThompson(state, LinearConfig(noise=0.1)).select(req, 5)
    assert served.items[0] == int(np.argmax(cands @ truth))
    with pytest.raises(RequestError, match="needs features"):
        LinearThompson(state).select(ExploreRequest(np.arange(3), np.zeros(3), 1), 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be between 1"),
        ({"k": 30}, "k must be between 1"),
        ({"scores": np.array([0.0, np.nan, 1.0])}, "finite"),
        ({"candidates": np.array([1, 1, 2])}, "distinct"),
        ({"uncertainty": 1.5}, r"uncertainty must lie in \[0, 1\]"),
        ({"features": np.zeros((2, 4))}, "features must be"),
    ],
)
def test_bad_requests_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"candidates": np.arange(3), "scores": np.zeros(3), "k": 2} | kwargs
    with pytest.raises(RequestError, match=message):
        ExploreRequest(**args)  # type: ignore[arg-type]


def test_registry_names_and_settings() -> None:
    assert isinstance(make_policy("epsilon", {"eps_max": 0.2}), EpsilonGreedy)
    with pytest.raises(ConfigError, match="expected one of epsilon, greedy, softmax"):
        make_policy("ucb")
    with pytest.raises(ConfigError, match="eps_maxx"):
        make_policy("epsilon", {"eps_maxx": 0.2})
    with pytest.raises(ConfigError, match="eps_min <= eps_max"):
        make_policy("epsilon", {"eps_min": 0.5, "eps_max": 0.1})


def test_request_seed_is_stable_and_keyed() -> None:
    assert request_seed(1, "u1", "r1") == request_seed(1, "u1", "r1")
    assert request_seed(1, "u1", "r1") != request_seed(2, "u1", "r1")
    assert request_seed(1, "u1", "r1") != request_seed(1, "u1", "r2")
    assert request_seed(0, "user", 5) == 15723497985244476139


def test_exposure_rows_carry_propensities() -> None:
    req = _request(n=5, k=2)
    served = EpsilonGreedy().select(req, 4)
    ids = [f"item{i}" for i in range(200)]
    rows = exposures(served, ids, "req-1", "u9", 1_700_000_000_000_000)
    table = exposure_table(rows)
    assert table.schema == EXPOSURE_SCHEMA
    assert table.num_rows == 2
    assert table["item_id"].to_pylist() == [ids[i] for i in served.items]
    assert table["propensity"].to_pylist() == served.propensities.tolist()
