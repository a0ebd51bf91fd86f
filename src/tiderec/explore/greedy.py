"""Pure exploitation (the baseline every exploration policy is measured against) and per-slot epsilon-greedy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tiderec.config import STRICT
from tiderec.errors import ConfigError
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.types import ItemList


class Greedy(Policy):
    """The top-k by score, every time (propensity 1)."""

    name: ClassVar[str] = "greedy"

    def select(self, request: ExploreRequest, seed: int) -> ItemList:
        """`Policy.select`'s list without its generator and marginals matrix (nothing is drawn; every request
        served without exploration goes through here)."""
        served = request.greedy()[: request.k]
        return ItemList(
            items=request.candidates[served].astype(np.int64),
            scores=request.scores[served].astype(np.float64),
            propensities=np.ones(request.k),
            explored=np.zeros(request.k, dtype=bool),
            policy=self.version,
            seed=seed,
        )

    def sample(self, request: ExploreRequest, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.tile(request.greedy()[: request.k], (n, 1)).astype(np.int64)

    def exact_marginals(self, request: ExploreRequest) -> np.ndarray:
        marg = np.zeros((request.n, request.k))
        marg[request.greedy()[: request.k], np.arange(request.k)] = 1.0
        return marg


@dataclass(frozen=True)
class EpsilonConfig:
    """epsilon = eps_min + (eps_max - eps_min) * request uncertainty: stable users explore little, new or
    migrating users more."""

    __pydantic_config__ = STRICT

    eps_min: float = 0.02
    eps_max: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.eps_min <= self.eps_max <= 1.0:
            raise ConfigError(f"epsilon: need 0 <= eps_min <= eps_max <= 1, got {self.eps_min}, {self.eps_max}")


class EpsilonGreedy(Policy):
    """Greedy top-k, but each slot j independently, with probability epsilon, shows instead a distinct item
    drawn uniformly from the candidates outside the top-k (the tail). Exact marginals: the greedy item keeps its
    slot with 1 - epsilon; each of the T tail items lands in slot j with epsilon / T (slots j >= T stay greedy).
    Exploitation is kept at most slots, unlike a whole-list coin flip."""

    name: ClassVar[str] = "epsilon"

    def __init__(self, config: EpsilonConfig | None = None) -> None:
        self.config = config or EpsilonConfig()

    @property
    def version(self) -> str:
        return f"{self.name}:{self.config.eps_min:g}-{self.config.eps_max:g}"

    def epsilon(self, request: ExploreRequest) -> float:
        cfg = self.config
        return cfg.eps_min + (cfg.eps_max - cfg.eps_min) * request.uncertainty

    def _slots(self, request: ExploreRequest) -> int:
        return min(request.k, request.n - request.k)

    def sample(self, request: ExploreRequest, rng: np.random.Generator, n: int) -> np.ndarray:
        order = request.greedy()
        k, tail = request.k, order[request.k :]
        rankings = np.tile(order[:k], (n, 1)).astype(np.int64)
        slots = self._slots(request)
        if slots == 0:
            return rankings
        explore = rng.random((n, slots)) < self.epsilon(request)
        picks = tail[np.argsort(rng.random((n, len(tail))), axis=1)[:, :slots]]
        rankings[:, :slots] = np.where(explore, picks, rankings[:, :slots])
        return rankings

    def exact_marginals(self, request: ExploreRequest) -> np.ndarray:
        order, k = request.greedy(), request.k
        eps, slots = self.epsilon(request), self._slots(request)
        marg = np.zeros((request.n, k))
        marg[order[:k], np.arange(k)] = 1.0
        if slots:
            marg[order[:slots], np.arange(slots)] = 1.0 - eps
            marg[np.ix_(order[k:], np.arange(slots))] = eps / (request.n - k)
        return marg
