"""Beta-Bernoulli Thompson sampling per item or per item cluster, over the candidates the model retrieved."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from tiderec.config import STRICT
from tiderec.errors import ConfigError, RequestError
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.metrics import top_k


@dataclass(frozen=True)
class ThompsonConfig:
    """Beta(prior_alpha, prior_beta) prior on each arm's reward rate; score_weight adds the model's standardised
    score to the sampled rate (0: the bandit alone ranks); simulations estimate propensities."""

    __pydantic_config__ = STRICT

    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    score_weight: float = 0.0
    simulations: int = 128

    def __post_init__(self) -> None:
        if self.prior_alpha <= 0 or self.prior_beta <= 0 or self.simulations < 1:
            raise ConfigError("thompson: need prior_alpha > 0, prior_beta > 0, simulations >= 1")


@dataclass(frozen=True)
class BetaState:
    """Rewards seen per arm: successes/failures float[n_arms]; `groups` int64[n_items] maps an item to its arm
    (None: one arm per item). `updates` counts the batches folded in (part of the policy version)."""

    successes: np.ndarray
    failures: np.ndarray
    groups: np.ndarray | None = None
    updates: int = 0

    @classmethod
    def empty(cls, n_arms: int, groups: np.ndarray | None = None) -> BetaState:
        return cls(np.zeros(n_arms), np.zeros(n_arms), groups)

    def arms(self, items: np.ndarray) -> np.ndarray:
        arms = items if self.groups is None else self.groups[items]
        if len(arms) and (arms.min() < 0 or arms.max() >= len(self.successes)):
            raise RequestError(f"thompson: item or group index outside the {len(self.successes)} arms of the state")
        return arms

    def update(self, items: np.ndarray, rewards: np.ndarray) -> BetaState:
        """A new state with rewards in [0, 1] of shown items folded in (pure: the caller commits it)."""
        if items.shape != rewards.shape:
            raise RequestError(f"thompson: {len(items)} items but {len(rewards)} rewards")
        if len(rewards) and (rewards.min() < 0 or rewards.max() > 1):
            raise RequestError("thompson: rewards must lie in [0, 1]")
        arms = self.arms(items)
        n = len(self.successes)
        return replace(
            self,
            successes=self.successes + np.bincount(arms, weights=rewards, minlength=n),
            failures=self.failures + np.bincount(arms, weights=1.0 - rewards, minlength=n),
            updates=self.updates + 1,
        )


class ThompsonSampling(Policy):
    """Each draw samples a rate per arm from its posterior and ranks candidates by it (plus the weighted model
    score); candidates of one cluster share a draw and keep the model's order among themselves."""

    name: ClassVar[str] = "thompson"

    def __init__(self, state: BetaState, config: ThompsonConfig | None = None) -> None:
        self.config = config or ThompsonConfig()
        self.state = state
        self.simulations = self.config.simulations

    @property
    def version(self) -> str:
        return f"{self.name}:{self.state.updates}"

    def with_state(self, state: BetaState) -> ThompsonSampling:
        return ThompsonSampling(state, self.config)

    def learn(self, request: ExploreRequest, served: np.ndarray, rewards: np.ndarray) -> ThompsonSampling:
        return self.with_state(self.state.update(request.candidates[served], rewards))

    def sample(self, request: ExploreRequest, rng: np.random.Generator, n: int) -> np.ndarray:
        order = request.greedy()
        arms = self.state.arms(request.candidates[order])
        unique, inverse = np.unique(arms, return_inverse=True)
        alpha = self.config.prior_alpha + self.state.successes[unique]
        beta = self.config.prior_beta + self.state.failures[unique]
        draws = rng.beta(alpha, beta, size=(n, len(unique)))[:, inverse]
        scores = request.scores[order]
        spread = scores.std()
        model = self.config.score_weight * (scores - scores.mean()) / (spread if spread > 0 else 1.0)
        tie_break = -np.arange(request.n) * 1e-12
        rankings: np.ndarray = order[top_k(draws + model + tie_break, request.k)]
        return rankings
