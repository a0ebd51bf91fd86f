"""Low-rank adaptation (LoRA, Hu et al. 2021) of a pretrained model's linear layers: the pretrained weight W
stays frozen and a trainable update (alpha / r) * B @ A is added, B zero at start so tuning begins at W."""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """y = base(x) + scale * dropout(x) @ A.T @ B.T; A: float[r, in], B: float[out, r] (zeros at start)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = alpha / rank
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = self.drop(x) @ self.lora_a.T @ self.lora_b.T
        out: torch.Tensor = self.base(x) + self.scale * update
        return out


def add_lora(
    model: nn.Module, targets: tuple[str, ...], rank: int, alpha: float, dropout: float = 0.0
) -> list[nn.Parameter]:
    """Freeze every parameter of `model`, wrap each nn.Linear whose attribute name is in `targets` (e.g. BERT's
    'query' and 'value') in a LoRALinear, and return the new trainable parameters."""
    for p in model.parameters():
        p.requires_grad_(False)
    found: list[tuple[nn.Module, str, nn.Linear]] = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if name in targets and isinstance(child, nn.Linear):
                found.append((parent, name, child))
    if not found:
        raise ValueError(f"no linear layer named {list(targets)} to adapt")
    params: list[nn.Parameter] = []
    for parent, name, child in found:
        wrapped = LoRALinear(child, rank, alpha, dropout)
        setattr(parent, name, wrapped)
        params += [wrapped.lora_a, wrapped.lora_b]
    return params
