"""Training settings a user leaves to the data (`valid_scoring` auto, `max_len` 0), resolved from the training
events before training starts, each with the figure it rests on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from tiderec.data.interactions import Interactions
from tiderec.train.config import TrainConfig

REPEAT_SHARE_FOR_A = 0.01
"""Below this share of training events that return to an item the user had before, lists leave seen items out:
scoring (B) selects the model and the model serves that way."""

WINDOWS: tuple[int, ...] = (50, 100, 200)
"""Candidate windows when max_len is 0: the smallest that holds the whole training sequence of 90% of users,
else the largest. Attention costs grow with the window, so a log of short histories keeps a short one."""
WINDOW_COVERS = 0.9


@dataclass(frozen=True)
class Settled:
    """A TrainConfig with nothing left on auto, and a line per setting the data chose (empty when none was auto)."""

    config: TrainConfig
    reasons: tuple[str, ...]


def repeat_share(train: Interactions) -> float:
    """Share of events whose item the same user had earlier (0 for logs where nobody returns to an item)."""
    if len(train) == 0:
        return 0.0
    pairs = train.user.astype(np.int64) * max(train.n_items, 1) + train.item
    return 1.0 - np.unique(pairs).size / len(train)


def window_for(train: Interactions) -> tuple[int, float]:
    """(the window WINDOWS gives the training sequences, their length at WINDOW_COVERS of users)."""
    lengths = train.lengths()
    lengths = lengths[lengths > 0]
    covered = float(np.quantile(lengths, WINDOW_COVERS)) if lengths.size else 0.0
    return next((w for w in WINDOWS if w >= covered), WINDOWS[-1]), covered


def settle(config: TrainConfig, train: Interactions) -> Settled:
    """Resolve the settings `config` leaves to the data from the training events."""
    reasons = []
    if config.valid_scoring == "auto":
        share = repeat_share(train)
        scoring: Literal["A", "B"] = "B" if share < REPEAT_SHARE_FOR_A else "A"
        kept = "seen items removed" if scoring == "B" else "seen items kept"
        reasons.append(
            f"scoring ({scoring}), {kept}: {share:.1%} of training events return to an item the user had before "
            f"(auto: (B) below {REPEAT_SHARE_FOR_A:.0%})"
        )
        config = replace(config, valid_scoring=scoring)
    if config.max_len == 0:
        window, covered = window_for(train)
        reasons.append(
            f"max_len {window}: {WINDOW_COVERS:.0%} of users have at most {covered:.0f} training events "
            f"(the smallest of {', '.join(map(str, WINDOWS))} that holds them)"
        )
        config = replace(config, max_len=window)
    return Settled(config, tuple(reasons))
