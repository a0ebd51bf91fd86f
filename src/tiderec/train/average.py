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
    decay None nothing is averaged: `module` is the model itself and `update` does nothing."""

    def __init__(self, model: M, decay: float | None) -> None:
        self.decay = decay
        self.module: M = model if decay is None else copy.deepcopy(model)
        if decay is not None:
            self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: M) -> None:
        if self.decay is None:
            return
        for averaged, current in zip(self.module.parameters(), model.parameters(), strict=True):
            averaged.lerp_(current, 1.0 - self.decay)
