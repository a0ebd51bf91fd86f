"""Linear Thompson sampling: a Bayesian linear model of reward over per-candidate context vectors (e.g. the
user's interest state times the item's vector), sampled per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tiderec.config import STRICT
from tiderec.errors import ConfigError, RequestError
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.metrics import top_k


@dataclass(frozen=True)
class LinearConfig:
    """Prior theta ~ N(0, I / prior_precision); posterior samples scaled by `noise`; score_weight adds the
    model's own score to the sampled linear reward (0: the bandit alone ranks)."""

    __pydantic_config__ = STRICT

    prior_precision: float = 1.0
    noise: float = 0.5
    score_weight: float = 0.0
    simulations: int = 128

    def __post_init__(self) -> None:
        if self.prior_precision <= 0 or self.noise < 0 or self.simulations < 1:
            raise ConfigError("linear: need prior_precision > 0, noise >= 0, simulations >= 1")


@dataclass(frozen=True)
class LinearState:
    """Sufficient statistics A = prior + sum x x^T (float[d, d]) and b = sum r x (float[d]), with the posterior
    mean and the Cholesky factor of A^-1 precomputed at update time (compute, then commit)."""

    precision: np.ndarray
    target: np.ndarray
    mean: np.ndarray
    cov_chol: np.ndarray
    updates: int = 0

    @classmethod
    def prior(cls, dim: int, prior_precision: float = 1.0) -> LinearState:
        eye = np.eye(dim)
        return cls.of(eye * prior_precision, np.zeros(dim), 0)

    @classmethod
    def of(cls, precision: np.ndarray, target: np.ndarray, updates: int) -> LinearState:
        cov = np.linalg.inv(precision)
        return cls(precision, target, cov @ target, np.linalg.cholesky((cov + cov.T) / 2), updates)

    def update(self, features: np.ndarray, rewards: np.ndarray) -> LinearState:
        """A new state with observed (features float[m, d], rewards float[m]) folded in."""
        if features.ndim != 2 or features.shape[1] != len(self.target) or len(rewards) != len(features):
            raise RequestError(f"linear: expected features [m, {len(self.target)}] and m rewards")
        return LinearState.of(
            self.precision + features.T @ features, self.target + features.T @ rewards, self.updates + 1
        )


class LinearThompson(Policy):
    """Each draw samples theta ~ N(mean, noise^2 A^-1) and ranks candidates by features @ theta."""

    name: ClassVar[str] = "linear-ts"

    def __init__(self, state: LinearState, config: LinearConfig | None = None) -> None:
        self.config = config or LinearConfig()
        self.state = state
        self.simulations = self.config.simulations

    @property
    def version(self) -> str:
        return f"{self.name}:{self.state.updates}"

    def with_state(self, state: LinearState) -> LinearThompson:
        return LinearThompson(state, self.config)

    def learn(self, request: ExploreRequest, served: np.ndarray, rewards: np.ndarray) -> LinearThompson:
        if request.features is None:
            raise RequestError("linear-ts: learning needs the request's features")
        return self.with_state(self.state.update(request.features[served], rewards))

    def sample(self, request: ExploreRequest, rng: np.random.Generator, n: int) -> np.ndarray:
        if request.features is None or request.features.shape[1] != len(self.state.mean):
            raise RequestError(f"linear-ts: the request needs features [n_candidates, {len(self.state.mean)}]")
        thetas = (
            self.state.mean + self.config.noise * rng.standard_normal((n, len(self.state.mean))) @ self.state.cov_chol.T
        )
        keys = thetas @ request.features.T + self.config.score_weight * request.scores[None, :]
        return top_k(keys, request.k)
