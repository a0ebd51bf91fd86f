"""GRU4Rec-style baseline (Hidasi et al. 2016, RecBole's variant): id embeddings -> GRU -> projection; scores
are dot products with the item embeddings. Left-padded input is packed so padding never enters the GRU."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tiderec.config import STRICT
from tiderec.models.base import SequenceModel
from tiderec.models.layers import init_weights


@dataclass(frozen=True)
class GRU4RecConfig:
    """RecBole's GRU4Rec defaults (embedding 64, hidden 128, one layer, dropout 0.3)."""

    __pydantic_config__ = STRICT

    dim: int = 64
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.3


class GRU4Rec(SequenceModel):
    def __init__(self, n_items: int, dim: int = 64, hidden: int = 128, layers: int = 1, dropout: float = 0.3) -> None:
        super().__init__()
        self.n_items = n_items
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, dim)
        init_weights(self)

    def encode(self, items: torch.Tensor, event_types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        b, t = items.shape
        lengths = (items > 0).sum(dim=1)  # [B]
        shift = (torch.arange(t, device=items.device)[None, :] + (t - lengths)[:, None]) % t  # left -> right pad
        right = items.gather(1, shift)
        x = self.drop(self.item_emb(right))  # [B, T, D]
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        hidden, _ = self.gru(packed)
        hidden, _ = pad_packed_sequence(hidden, batch_first=True, total_length=t)  # [B, T, H]
        states = self.out(self.drop(hidden))  # [B, T, D], right-padded
        back = (torch.arange(t, device=items.device)[None, :] - (t - lengths)[:, None]) % t
        left: torch.Tensor = states.gather(1, back[..., None].expand(b, t, states.shape[-1]))  # left-padded again
        return left

    def item_table(self) -> torch.Tensor:
        return self.item_emb.weight[1:]
