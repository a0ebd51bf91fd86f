"""BSARec baseline (Shin et al., AAAI 2024, "An Attentive Inductive Bias for Sequential Recommendation beyond the
Self-Attention"), as in its released code: each layer mixes a frequency filter over the whole window (low
frequencies kept, high ones rescaled by a learned beta^2) with causal self-attention, alpha : 1 - alpha, then a
feed-forward block; post-norm residuals, absolute positions over a window always padded to max_len.

The filter reads the whole window, so a state is only meaningful at the window's last position: the model is not
causal (`causal = False`), and training supervises the last position of every prefix, as the paper's code does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from tiderec.config import STRICT
from tiderec.errors import ConfigError
from tiderec.models.base import SequenceModel
from tiderec.models.layers import NEG, init_weights


@dataclass(frozen=True)
class BSARecConfig:
    """The paper's Beauty settings (hidden 64, 2 layers, 1 head, dropout 0.5, alpha 0.7, cut-off c 5); the
    feed-forward width is 4 x hidden, as in its code."""

    __pydantic_config__ = STRICT

    dim: int = 64
    layers: int = 2
    heads: int = 1
    dropout: float = 0.5
    attn_dropout: float = 0.5
    alpha: float = 0.7
    cutoff: int = 5

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"bsarec alpha {self.alpha}: expected a weight in [0, 1]")
        if self.cutoff < 1:
            raise ConfigError(f"bsarec cutoff {self.cutoff}: expected at least 1 frequency")
        if self.dim % self.heads:
            raise ConfigError(f"bsarec dim {self.dim} is not divisible by heads {self.heads}")


class FrequencyFilter(nn.Module):
    """x float[B, T, D] -> LayerNorm(x + dropout(low + beta^2 * (x - low))), low = the window's lowest
    cutoff // 2 + 1 frequencies (rfft over T)."""

    def __init__(self, dim: int, cutoff: int, dropout: float) -> None:
        super().__init__()
        self.keep = cutoff // 2 + 1
        self.sqrt_beta = nn.Parameter(torch.randn(1, 1, dim))
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(x, dim=1, norm="ortho")
        spectrum[:, self.keep :, :] = 0
        low = torch.fft.irfft(spectrum, n=x.shape[1], dim=1, norm="ortho")
        out: torch.Tensor = self.norm(x + self.drop(low + self.sqrt_beta**2 * (x - low)))
        return out


class Attention(nn.Module):
    """Post-norm multi-head self-attention: x float[B, T, D], additive mask float[B, 1, T, T]."""

    def __init__(self, dim: int, heads: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = attn_dropout
        self.norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        dropout = self.attn_dropout if self.training else 0.0
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)  # [B, H, T, D/H]
        out: torch.Tensor = self.norm(x + self.drop(self.proj(attn.transpose(1, 2).reshape(b, t, d))))
        return out


class BSARecBlock(nn.Module):
    """alpha x filter + (1 - alpha) x attention, then a post-norm GELU feed-forward of width 4 x dim."""

    def __init__(self, cfg: BSARecConfig) -> None:
        super().__init__()
        self.alpha = cfg.alpha
        self.filter = FrequencyFilter(cfg.dim, cfg.cutoff, cfg.dropout)
        self.attention = Attention(cfg.dim, cfg.heads, cfg.dropout, cfg.attn_dropout)
        self.ff = nn.Sequential(nn.Linear(cfg.dim, 4 * cfg.dim), nn.GELU(), nn.Linear(4 * cfg.dim, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-12)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mixed = self.alpha * self.filter(x) + (1 - self.alpha) * self.attention(x, mask)
        out: torch.Tensor = self.norm(mixed + self.drop(self.ff(mixed)))
        return out


class BSARec(SequenceModel):
    causal: ClassVar[bool] = False

    def __init__(self, n_items: int, max_len: int, cfg: BSARecConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or BSARecConfig()
        self.n_items, self.max_len = n_items, max_len
        self.item_emb = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, cfg.dim)
        self.input_norm = nn.LayerNorm(cfg.dim, eps=1e-12)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(BSARecBlock(cfg) for _ in range(cfg.layers))
        init_weights(self)

    def encode(self, items: torch.Tensor, event_types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """float[B, T, D]; the window is left-padded to max_len first (the filter's frequencies are those of a
        max_len window, whatever the batch's width), and only the last position reads the whole history."""
        width = items.shape[1]
        if width > self.max_len:
            raise ValueError(f"bsarec: a window of {width} events, longer than max_len {self.max_len}")
        padded = F.pad(items, (self.max_len - width, 0))
        valid = padded > 0
        t = self.max_len
        x = self.item_emb(padded) + self.pos_emb.weight[None, :, :]
        x = self.drop(self.input_norm(x))
        causal = torch.ones(t, t, dtype=torch.bool, device=items.device).tril()
        mask = torch.where(causal[None, :, :] & valid[:, None, :], 0.0, NEG)[:, None, :, :]
        for block in self.blocks:
            x = block(x, mask)
        states: torch.Tensor = x[:, t - width :]
        return states

    def item_table(self) -> torch.Tensor:
        return self.item_emb.weight[1:]
