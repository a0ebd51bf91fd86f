"""Plackett-Luce slates: items drawn one by one without replacement with probability proportional to
exp(score / temperature) (sampled in one shot by the Gumbel-top-k trick)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tiderec.config import STRICT
from tiderec.errors import ConfigError
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.metrics import top_k


@dataclass(frozen=True)
class SoftmaxConfig:
    """temperature = base * (1 + boost * uncertainty): flatter (more exploring) slates for uncertain users.
    simulations: draws that estimate the position propensities."""

    __pydantic_config__ = STRICT

    temperature: float = 1.0
    boost: float = 1.0
    simulations: int = 128

    def __post_init__(self) -> None:
        if self.temperature <= 0 or self.boost < 0 or self.simulations < 1:
            raise ConfigError("softmax: need temperature > 0, boost >= 0, simulations >= 1")


class PlackettLuce(Policy):
    """Softmax sampling of whole slates; the first position's propensity equals the softmax probability."""

    name: ClassVar[str] = "softmax"

    def __init__(self, config: SoftmaxConfig | None = None) -> None:
        self.config = config or SoftmaxConfig()
        self.simulations = self.config.simulations

    @property
    def version(self) -> str:
        return f"{self.name}:{self.config.temperature:g}-{self.config.boost:g}"

    def temperature(self, request: ExploreRequest) -> float:
        return self.config.temperature * (1.0 + self.config.boost * request.uncertainty)

    def sample(self, request: ExploreRequest, rng: np.random.Generator, n: int) -> np.ndarray:
        keys = request.scores[None, :] / self.temperature(request) + rng.gumbel(size=(n, request.n))
        return top_k(keys, request.k)
