"""Policy names -> constructors for the stateless policies (stateful ones are built from their state)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tiderec.config import from_dict
from tiderec.errors import ConfigError
from tiderec.explore.greedy import EpsilonConfig, EpsilonGreedy, Greedy
from tiderec.explore.policy import Policy
from tiderec.explore.softmax import PlackettLuce, SoftmaxConfig

STATELESS: dict[str, Callable[[Mapping[str, Any]], Policy]] = {
    "greedy": lambda cfg: Greedy(),
    "epsilon": lambda cfg: EpsilonGreedy(from_dict(EpsilonConfig, cfg, "epsilon")),
    "softmax": lambda cfg: PlackettLuce(from_dict(SoftmaxConfig, cfg, "softmax")),
}


def make_policy(name: str, config: Mapping[str, Any] | None = None) -> Policy:
    """A stateless policy by name; unknown names list the valid ones."""
    if name not in STATELESS:
        raise ConfigError(f"unknown policy {name!r}; expected one of {', '.join(sorted(STATELESS))}")
    if name == "greedy" and config:
        raise ConfigError(f"policy 'greedy' takes no settings, got {sorted(config)}")
    return STATELESS[name](config or {})
