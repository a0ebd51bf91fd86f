"""A character-level BiLSTM tagger (BIO) for product titles and queries: char ids int64[B, T], optional char-bigram
ids int64[B, T] and lexicon match flags float[B, T, F] -> tag emissions float[B, T, n_tags]; an optional CRF
(query/crf.py) scores whole tag paths. Pure torch; data handling and training live in query/ner.py."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tiderec.query.crf import CRF


@dataclass(frozen=True)
class TaggerConfig:
    """Model shape (defaults: the settings picked on validation titles). bigram_dim 0 = no bigram embeddings; crf
    False = independent softmax per character."""

    dim: int = 128
    hidden: int = 128
    bigram_dim: int = 64
    dropout: float = 0.3
    crf: bool = True


class CharTagger(nn.Module):
    def __init__(
        self,
        n_chars: int,
        tags: list[str],
        config: TaggerConfig = TaggerConfig(),
        n_bigrams: int = 0,
        n_flags: int = 0,
    ) -> None:
        super().__init__()
        self.config, self.n_flags = config, n_flags
        self.embed = nn.Embedding(n_chars, config.dim, padding_idx=0)
        self.bigram = nn.Embedding(n_bigrams, config.bigram_dim, padding_idx=0) if config.bigram_dim > 0 else None
        width = config.dim + config.bigram_dim + n_flags
        self.lstm = nn.LSTM(
            width, config.hidden, num_layers=2, batch_first=True, bidirectional=True, dropout=config.dropout
        )
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(2 * config.hidden, len(tags))
        self.crf = CRF(tags) if config.crf else None

    def forward(self, chars: torch.Tensor, bigrams: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        """chars, bigrams int64[B, T]; flags float[B, T, n_flags] -> emissions float[B, T, n_tags]."""
        parts = [self.embed(chars)]  # [B, T, dim]
        if self.bigram is not None:
            parts.append(self.bigram(bigrams))  # [B, T, bigram_dim]
        if self.n_flags:
            parts.append(flags)  # [B, T, n_flags]
        x = self.drop(torch.cat(parts, dim=-1))  # [B, T, width]
        h, _ = self.lstm(x)  # [B, T, 2 * hidden]
        emissions: torch.Tensor = self.out(self.drop(h))  # [B, T, n_tags]
        return emissions

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """CRF negative log-likelihood, or token cross-entropy without a CRF; tags int64[B, T], mask bool[B, T]."""
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask)
        gold = torch.where(mask, tags, torch.full_like(tags, -100))
        return nn.functional.cross_entropy(emissions.reshape(-1, emissions.shape[-1]), gold.reshape(-1))

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """int64[B, T]: Viterbi path with a CRF, else the best tag per character."""
        if self.crf is not None:
            return self.crf.decode(emissions, mask)
        return emissions.argmax(-1)
