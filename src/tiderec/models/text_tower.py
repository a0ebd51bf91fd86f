"""A trainable text tower for the interest model: a pretrained transformer (frozen, LoRA on its attention)
re-encodes item texts inside training, so the language model itself adapts to the shopping task. Pure torch:
the transformer and the tokenised texts are handed in (see train.registry)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tiderec.models.lora import add_lora

CHUNK = 1024
"""Texts per transformer call (bounds activation memory when a whole catalogue is encoded)."""


class TextTower(nn.Module):
    """Item ids + 1 (0 = pad) -> mean-pooled, L2-normalised transformer vectors float[..., H]; items without
    text (and the pad) give zero rows, as in a vector store.

    encoder: a transformers model called as encoder(input_ids=, attention_mask=).last_hidden_state;
    input_ids / attention_mask: int64[N, L] right-padded tokens of the N item texts."""

    def __init__(
        self,
        encoder: nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        rank: int,
        alpha: float,
        targets: tuple[str, ...] = ("query", "value"),
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.trainable = add_lora(encoder, targets, rank, alpha)
        pad = torch.zeros(1, input_ids.shape[1], dtype=torch.long)
        self.register_buffer("input_ids", torch.cat([pad, input_ids.long()]), persistent=False)
        self.register_buffer("attention_mask", torch.cat([pad, attention_mask.long()]), persistent=False)
        has_text = torch.cat([torch.zeros(1), (attention_mask.sum(dim=1) > 2).float()])  # more than [CLS] [SEP]
        self.register_buffer("has_text", has_text, persistent=False)
        self._cached: tuple[tuple[object, ...], torch.Tensor] | None = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """float[..., H] vectors of item ids + 1 (any shape), looked up in `table`."""
        return self.table()[ids]

    def table(self) -> torch.Tensor:
        """float[N + 1, H]: every item's vector (row 0: the pad). Computed once per state of the LoRA weights
        (their version counters move at each optimiser step), mode and grad mode: a training step's forward
        and its full-softmax scores share one pass, and validation batches share one."""
        key = (self.training, torch.is_grad_enabled(), *(p._version for p in self.trainable))
        if self._cached is None or self._cached[0] != key:
            rows = torch.arange(self.get_buffer("input_ids").shape[0], device=self.get_buffer("input_ids").device)
            self._cached = (key, torch.cat([self._encode(rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]))
        return self._cached[1]

    def _encode(self, rows: torch.Tensor) -> torch.Tensor:
        mask = self.get_buffer("attention_mask")[rows]
        width = max(int(mask.sum(dim=1).max()), 1)
        tokens = self.get_buffer("input_ids")[rows, :width]
        mask = mask[:, :width]
        out: Any = self.encoder(input_ids=tokens, attention_mask=mask)
        hidden: torch.Tensor = out.last_hidden_state  # [U, L, H]
        weights = mask[..., None].to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1) * self.get_buffer("has_text")[rows, None]
