"""Online experiments: deterministic assignment of users to variants (policies or model versions) by a keyed
hash, so that a user sees one variant for the whole experiment, on every server, without stored state."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from tiderec.config import STRICT
from tiderec.errors import ConfigError


@dataclass(frozen=True)
class ExperimentConfig:
    """variants and their traffic weights (default equal); a new `name` reshuffles users independently."""

    __pydantic_config__ = STRICT

    name: str
    variants: tuple[str, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.variants) < 2 or len(set(self.variants)) != len(self.variants):
            raise ConfigError(f"experiment {self.name!r}: need at least two distinct variants, got {self.variants}")
        if self.weights is not None and (
            len(self.weights) != len(self.variants) or min(self.weights) < 0 or sum(self.weights) <= 0
        ):
            raise ConfigError(f"experiment {self.name!r}: weights must be one non-negative number per variant")

    def shares(self) -> tuple[float, ...]:
        """Traffic share per variant, summing to 1."""
        weights = self.weights or (1.0,) * len(self.variants)
        total = sum(weights)
        return tuple(w / total for w in weights)


def bucket(key: bytes, experiment: str, user_id: str) -> float:
    """A uniform number in [0, 1) from HMAC-SHA256(key, experiment, user id): unpredictable without the key."""
    digest = hmac.new(key, f"{experiment}\x1f{user_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(config: ExperimentConfig, key: bytes, user_id: str) -> str:
    """The user's variant: the same for every call with the same key and experiment name."""
    point = bucket(key, config.name, user_id)
    edge = 0.0
    for variant, share in zip(config.variants, config.shares(), strict=True):
        edge += share
        if point < edge:
            return variant
    return config.variants[-1]
