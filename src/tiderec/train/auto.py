"""Training settings a user leaves to the data (`auto` in TrainConfig), resolved from the training events before
training starts, each with the figure it rests on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from tiderec.data.interactions import Interactions
from tiderec.train.config import TrainConfig

REPEAT_SHARE_FOR_A = 0.01
"""Below this share of training events that return to an item the user had before, lists leave seen items out:
scoring (B) selects the model and the model serves that way."""


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


def settle(config: TrainConfig, train: Interactions) -> Settled:
    """Resolve the `auto` settings of `config` from the training events."""
    if config.valid_scoring != "auto":
        return Settled(config, ())
    share = repeat_share(train)
    scoring: Literal["A", "B"] = "B" if share < REPEAT_SHARE_FOR_A else "A"
    kept = "seen items removed" if scoring == "B" else "seen items kept"
    reason = (
        f"scoring ({scoring}), {kept}: {share:.1%} of training events return to an item the user had before "
        f"(auto: (B) below {REPEAT_SHARE_FOR_A:.0%})"
    )
    return Settled(replace(config, valid_scoring=scoring), (reason,))
