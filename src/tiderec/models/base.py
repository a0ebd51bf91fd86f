"""The sequence model interface: padded sequences in, a state per position out, scores over the catalogue."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import torch
from torch import nn

from tiderec.models.layers import prefix_histories


class SequenceModel(nn.Module):
    """Inputs are int64[B, T] left-padded tensors (0 = pad): items (index + 1), event_types (type + 1), gaps
    and next_gaps (time buckets, see data.sequences). `forward` returns user states float[B, T, D]; the state at
    position t depends only on positions <= t (and the time to the next event).

    A state splits into what the events say (`encode`) and the moment it is read at (`at_moment`, the time to the
    next event): forward(i, e, g, n) == at_moment(encode(i, e, g), n). A service keeps the encoded state of each
    user and applies the moment of each request, so serving scores exactly what evaluation scores."""

    n_items: int
    causal: ClassVar[bool] = True
    """False for a model whose state at t also reads later positions of its window (a filter over the whole
    window): only a window's last state is a prediction, so training supervises the last position of every
    prefix (`data.sequences.prefix_windows`) instead of every position of a window."""

    @abstractmethod
    def encode(self, items: torch.Tensor, event_types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """float[B, T, D]: the states before the moment term."""

    def at_moment(self, states: torch.Tensor, next_gaps: torch.Tensor) -> torch.Tensor:
        """states float[..., D] read at next_gaps int64[...] (gap buckets to the next event); models without a
        time-to-next input return the states as they are."""
        return states

    def forward(
        self, items: torch.Tensor, event_types: torch.Tensor, gaps: torch.Tensor, next_gaps: torch.Tensor
    ) -> torch.Tensor:
        return self.at_moment(self.encode(items, event_types, gaps), next_gaps)

    @abstractmethod
    def item_table(self) -> torch.Tensor:
        """float[N, D]: the representation every item is scored against."""

    def finish(self) -> None:
        """Called once training has loaded the best weights: models with training-only parts fold them in."""

    def item_rows(self, items: torch.Tensor) -> torch.Tensor:
        """float[K, D]: the rows of `item_table` for item indices int64[K]; models whose table is computed
        override it to compute only those rows (a sampled softmax needs a few thousand of millions)."""
        return self.item_table()[items]

    def reachable(self, history: torch.Tensor) -> torch.Tensor:
        """bool[B, N]: the items whose score each history of ids + 1 int64[B, T] (0: padding) moves beyond the
        state's inner product (none here; models with history terms override it)."""
        return torch.zeros((history.shape[0], self.n_items), dtype=torch.bool, device=history.device)

    def base_scores(
        self, picked: torch.Tensor, table: torch.Tensor | None = None, candidates: torch.Tensor | None = None
    ) -> torch.Tensor:
        """float[P, N]: picked states float[P, D] against the item table (`table`, when the caller holds it
        computed), only at `candidates` int64[C] when given (every other item -inf)."""
        table = self.item_table() if table is None else table
        if candidates is None:
            return picked @ table.T
        out = torch.full((picked.shape[0], table.shape[0]), -torch.inf, dtype=picked.dtype, device=picked.device)
        out[:, candidates] = picked @ table[candidates].T
        return out

    def scores(
        self,
        states: torch.Tensor,
        items: torch.Tensor,
        select: torch.Tensor,
        table: torch.Tensor | None = None,
        candidates: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """float[P, N] scores of all items at the P selected positions (select: bool[B, T]): the one scoring
        function that training, evaluation, batch recommendation and the service call. `table`: the item table
        when the caller holds it computed; `candidates` int64[C]: score only these items (-inf elsewhere; the
        caller includes every item a history term can reach)."""
        history, cols, in_prefix = prefix_histories(items, select)
        return self.score_positions(states[select], history, cols, in_prefix, table, candidates)

    def score_positions(
        self,
        picked: torch.Tensor,
        history: torch.Tensor,
        cols: torch.Tensor,
        in_prefix: torch.Tensor,
        table: torch.Tensor | None = None,
        candidates: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`scores` for P positions given directly: states float[P, D], each one's row of items int64[P, T]
        (ids + 1), its column int64[P] and which of the row's items precede it bool[P, T] (a service scoring a
        kept state at the end of a history builds these without a [B, T, D] tensor)."""
        return self.base_scores(picked, table, candidates)
