"""Building blocks shared by the sequence models: a pre-norm causal transformer over left-padded input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NEG = -1e4
"""Additive attention mask value (finite, so fully padded rows stay finite)."""


def positions(valid: torch.Tensor) -> torch.Tensor:
    """int64[B, T] position of each event counted from the first event of its (left-padded) row: causal, and
    the same for an event whether it is scored in a training window or at prediction time. valid: bool[B, T]."""
    pos: torch.Tensor = (valid.long().cumsum(dim=1) - 1).clamp(min=0)
    return pos


def prefix_histories(items: torch.Tensor, select: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For the P selected positions of items int[B, T] (ids + 1, 0 = pad), select bool[B, T]: each one's row
    of items int[P, T], its column int[P] and which of the row's items are in its prefix bool[P, T]."""
    rows, cols = select.nonzero(as_tuple=True)
    history = items[rows]
    t = torch.arange(items.shape[1], device=items.device)
    return history, cols, (t[None, :] <= cols[:, None]) & (history > 0)


def causal_padding_mask(valid: torch.Tensor) -> torch.Tensor:
    """float[B, 1, T, T] additive mask: position t may attend to valid positions <= t. valid: bool[B, T]."""
    t = valid.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=valid.device).tril()
    allowed = causal[None, :, :] & valid[:, None, :]
    mask: torch.Tensor = torch.where(allowed, 0.0, NEG)[:, None, :, :]
    return mask


class CausalBlock(nn.Module):
    """Pre-norm self-attention + feed-forward block with dropout; x: float[B, T, D] -> float[B, T, D]."""

    def __init__(self, dim: int, heads: int, inner: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, inner), nn.GELU(), nn.Dropout(dropout), nn.Linear(inner, dim))
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = attn_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        dropout = self.attn_dropout if self.training else 0.0
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)  # [B, H, T, D/H]
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(b, t, d)))
        out: torch.Tensor = x + self.drop(self.ff(self.norm2(x)))
        return out


class CausalTransformer(nn.Module):
    """A stack of CausalBlocks with a final LayerNorm; (x float[B, T, D], valid bool[B, T]) -> float[B, T, D]."""

    def __init__(self, dim: int, layers: int, heads: int, inner: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(CausalBlock(dim, heads, inner, dropout, attn_dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        mask = causal_padding_mask(valid)
        for block in self.blocks:
            x = block(x, mask)
        out: torch.Tensor = self.norm(x)
        return out


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Normal(0, std) for linear and embedding weights, zero biases, unit LayerNorm (BERT/SASRec style)."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
