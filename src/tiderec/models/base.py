"""The sequence model interface: padded sequences in, a state per position out, scores over the catalogue."""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn


class SequenceModel(nn.Module):
    """Inputs are int64[B, T] left-padded tensors (0 = pad): items (index + 1), event_types (type + 1), gaps
    and next_gaps (time buckets, see data.sequences). `forward` returns user states float[B, T, D]; the state at
    position t depends only on positions <= t (and the time to the next event)."""

    n_items: int

    @abstractmethod
    def forward(
        self, items: torch.Tensor, event_types: torch.Tensor, gaps: torch.Tensor, next_gaps: torch.Tensor
    ) -> torch.Tensor: ...

    @abstractmethod
    def item_table(self) -> torch.Tensor:
        """float[N, D]: the representation every item is scored against."""

    def finish(self) -> None:
        """Called once training has loaded the best weights: models with training-only parts fold them in."""

    def item_rows(self, items: torch.Tensor) -> torch.Tensor:
        """float[K, D]: the rows of `item_table` for item indices int64[K]; models whose table is computed
        override it to compute only those rows (a sampled softmax needs a few thousand of millions)."""
        return self.item_table()[items]

    def scores(self, states: torch.Tensor, items: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
        """float[P, N] scores of all items at the P selected positions (select: bool[B, T])."""
        return states[select] @ self.item_table().T
