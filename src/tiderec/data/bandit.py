"""Logged bandit feedback: which action was shown at which position, with what probability, and the reward."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiderec.errors import RequestError


@dataclass(frozen=True)
class BanditLog:
    """n logged rounds. actions int64[n] in [0, n_actions); positions int64[n] in [0, n_positions) (0-based);
    rewards float[n]; pscores float[n] in (0, 1]: the logging policy's probability of that action at that
    position; contexts float[n, d] or None. Invalid values are errors naming the first offending round."""

    actions: np.ndarray
    positions: np.ndarray
    rewards: np.ndarray
    pscores: np.ndarray
    n_actions: int
    n_positions: int
    contexts: np.ndarray | None = None
    source: str = "log"

    def __post_init__(self) -> None:
        n = len(self.actions)
        for name in ("positions", "rewards", "pscores"):
            if len(getattr(self, name)) != n:
                raise RequestError(f"{self.source}: {name} has {len(getattr(self, name))} rounds, actions has {n}")
        if self.contexts is not None and len(self.contexts) != n:
            raise RequestError(f"{self.source}: contexts has {len(self.contexts)} rounds, actions has {n}")
        _first_bad(
            self.source,
            "action",
            self.actions,
            (self.actions < 0) | (self.actions >= self.n_actions),
            f"an action index in [0, {self.n_actions})",
        )
        _first_bad(
            self.source,
            "position",
            self.positions,
            (self.positions < 0) | (self.positions >= self.n_positions),
            f"a position in [0, {self.n_positions})",
        )
        _first_bad(
            self.source, "pscore", self.pscores, ~((self.pscores > 0) & (self.pscores <= 1)), "a propensity in (0, 1]"
        )
        _first_bad(self.source, "reward", self.rewards, ~np.isfinite(self.rewards), "a finite reward")

    def __len__(self) -> int:
        return len(self.actions)

    def subset(self, rows: np.ndarray) -> BanditLog:
        """The rounds at `rows` (indices or a boolean mask), same action and position sets."""
        return BanditLog(
            self.actions[rows],
            self.positions[rows],
            self.rewards[rows],
            self.pscores[rows],
            self.n_actions,
            self.n_positions,
            None if self.contexts is None else self.contexts[rows],
            self.source,
        )


def _first_bad(source: str, what: str, values: np.ndarray, bad: np.ndarray, expected: str) -> None:
    if bool(bad.any()):
        i = int(np.argmax(bad))
        raise RequestError(
            f"{source}: round {i}: {what} expected {expected}, got {values[i].item()!r} ({int(bad.sum())} such rounds)"
        )
