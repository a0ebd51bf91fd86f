"""The one interface evaluation and batch recommendation use: a batch of histories -> scores over items."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from tiderec.data.sequences import SequenceArrays
from tiderec.models.base import SequenceModel


@runtime_checkable
class Scorer(Protocol):
    """score(arrays) -> float32[B, N]: how much each user (a left-padded history) wants each item next."""

    name: str
    n_items: int

    def score(self, arrays: SequenceArrays) -> np.ndarray: ...


class TorchScorer:
    """Scores with a trained SequenceModel at the last position of each history (eval mode, no gradients)."""

    def __init__(self, name: str, model: SequenceModel, device: str = "cpu") -> None:
        self.name = name
        self.model = model
        self.n_items = model.n_items
        self.device = device

    def score(self, arrays: SequenceArrays) -> np.ndarray:
        self.model.eval()
        arrays = arrays.trimmed()
        with torch.inference_mode():
            t = {
                k: torch.from_numpy(getattr(arrays, k)).to(self.device)
                for k in ("items", "event_types", "gaps", "next_gaps")
            }
            states = self.model(t["items"], t["event_types"], t["gaps"], t["next_gaps"])
            select = torch.zeros_like(t["items"], dtype=torch.bool)
            select[:, -1] = True
            scores = self.model.scores(states, t["items"], select)
            return scores.float().cpu().numpy()
