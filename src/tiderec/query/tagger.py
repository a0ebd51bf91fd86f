"""A character-level BiLSTM tagger (BIO) for product titles and queries: chars int64[B, T] -> tag logits
float[B, T, n_tags]. Pure torch; training lives in query/ner.py."""

from __future__ import annotations

import torch
from torch import nn


class CharTagger(nn.Module):
    def __init__(self, n_chars: int, n_tags: int, dim: int = 128, hidden: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_chars, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True, bidirectional=True, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, n_tags)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.embed(chars))  # [B, T, dim]
        h, _ = self.lstm(x)  # [B, T, 2 * hidden]
        logits: torch.Tensor = self.out(self.drop(h))  # [B, T, n_tags]
        return logits
