"""SASRec-style baseline (Kang & McAuley 2018): id embeddings + positions -> causal transformer; scores are
dot products with the (tied) item embeddings. Trained with full-softmax cross-entropy like RecBole's SASRec."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tiderec.config import STRICT
from tiderec.models.base import SequenceModel
from tiderec.models.layers import CausalTransformer, init_weights, positions


@dataclass(frozen=True)
class SASRecConfig:
    """RecBole's SASRec defaults (hidden 64, 2 layers, 2 heads, inner 256, dropout 0.5)."""

    __pydantic_config__ = STRICT

    dim: int = 64
    layers: int = 2
    heads: int = 2
    inner: int = 256
    dropout: float = 0.5
    attn_dropout: float = 0.5


class SASRec(SequenceModel):
    def __init__(
        self,
        n_items: int,
        max_len: int,
        dim: int = 64,
        layers: int = 2,
        heads: int = 2,
        inner: int = 256,
        dropout: float = 0.5,
        attn_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, dim)
        self.input_norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.encoder = CausalTransformer(dim, layers, heads, inner, dropout, attn_dropout)
        init_weights(self)

    def encode(self, items: torch.Tensor, event_types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        valid = items > 0  # [B, T]
        x = self.item_emb(items) + self.pos_emb(positions(valid))  # [B, T, D]
        x = self.drop(self.input_norm(x)) * valid[..., None]
        states: torch.Tensor = self.encoder(x, valid)  # [B, T, D]
        return states

    def item_table(self) -> torch.Tensor:
        return self.item_emb.weight[1:]
