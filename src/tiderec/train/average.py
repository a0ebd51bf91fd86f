"""An exponential moving average of a model's weights over training steps (TrainConfig.ema): the averaged
copy is what validation scores, early stopping keeps and training returns."""

from __future__ import annotations

import copy
from typing import Generic, TypeVar

import torch

M = TypeVar("M", bound=torch.nn.Module)


class WeightAverage(Generic[M]):
    """Keeps averaged = decay * averaged + (1 - decay) * weights after every step (parameters only: buffers are
    fixed inputs such as item vectors); `module` is a copy of the model holding the averaged weights. With
    decay 0 nothing is averaged: `module` is the model itself and `update` does nothing."""

    def __init__(self, model: M, decay: float) -> None:
        self.decay = decay
        self.module: M = copy.deepcopy(model) if decay else model
        if decay:
            self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: M) -> None:
        if not self.decay:
            return
        for averaged, current in zip(self.module.parameters(), model.parameters(), strict=True):
            averaged.lerp_(current, 1.0 - self.decay)

    def variants(self, model: M) -> dict[float, M]:
        """The weights each epoch validates, by decay (0.0: the raw weights): the averaged copy first, then `model`
        itself (only `model` when nothing is averaged)."""
        if not self.decay:
            return {0.0: model}
        return {self.decay: self.module, 0.0: model}
