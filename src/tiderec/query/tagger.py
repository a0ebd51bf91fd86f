"""A character-level BiLSTM tagger (BIO) for product titles and queries: char ids int64[B, T], optional char-bigram
ids int64[B, T] and per-character features float[B, T, F] (lexicon and word flags, then optionally a pretrained
encoder's states, projected by a learned layer) -> tag emissions float[B, T, n_tags]; an optional CRF
(query/crf.py) scores whole tag paths; an ensemble of such taggers decodes their mean scores at once. Pure torch; data
handling and training live in query/ner.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tiderec.query.crf import CRF, mean_scores, viterbi


@dataclass(frozen=True)
class TaggerConfig:
    """Model shape (defaults: the settings picked on validation titles). bigram_dim 0 = no bigram embeddings; crf
    False = independent softmax per character. states: how many of the feature columns, at their end, are a
    pretrained encoder's states (0: none), projected to states_dim by a learned layer (0: used as they are)."""

    dim: int = 128
    hidden: int = 128
    bigram_dim: int = 64
    dropout: float = 0.3
    crf: bool = True
    states: int = 0
    states_dim: int = 64


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
        if not 0 <= config.states <= n_flags:
            raise ValueError(f"states ({config.states}) must be within the {n_flags} feature columns")
        self.config, self.n_flags = config, n_flags
        self.embed = nn.Embedding(n_chars, config.dim, padding_idx=0)
        self.bigram = nn.Embedding(n_bigrams, config.bigram_dim, padding_idx=0) if config.bigram_dim > 0 else None
        projected = config.states > 0 and config.states_dim > 0
        self.project = nn.Linear(config.states, config.states_dim) if projected else None
        states_width = config.states_dim if projected else config.states
        width = config.dim + config.bigram_dim + n_flags - config.states + states_width
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
        states = self.config.states
        if self.n_flags > states:
            parts.append(flags[..., : self.n_flags - states])  # [B, T, n_flags - states]
        if states:
            tail = flags[..., self.n_flags - states :]  # [B, T, states]
            parts.append(self.project(tail) if self.project is not None else tail)  # [B, T, states_dim]
        x = self.drop(torch.cat(parts, dim=-1))  # [B, T, width]
        h, _ = self.lstm(x)  # [B, T, 2 * hidden]
        emissions: torch.Tensor = self.out(self.drop(h))  # [B, T, n_tags]
        return emissions

    def loss(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, allowed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """CRF negative log-likelihood, or token cross-entropy without a CRF; tags int64[B, T], mask bool[B, T];
        allowed bool[B, T, n_tags]: the tags a partially labelled row may take (CRF only, see CRF.nll)."""
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask, allowed)
        if allowed is not None:
            raise ValueError("partially labelled rows need a CRF")
        gold = torch.where(mask, tags, torch.full_like(tags, -100))
        return nn.functional.cross_entropy(emissions.reshape(-1, emissions.shape[-1]), gold.reshape(-1))

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """int64[B, T]: Viterbi path with a CRF, else the best tag per character."""
        if self.crf is not None:
            return self.crf.decode(emissions, mask)
        return emissions.argmax(-1)


DECODES = ("scores", "marginals")
"""How an ensemble decodes: "scores" = one Viterbi over the members' mean emissions and mean CRF scores; "marginals" =
the best valid BIO path under the members' mean per-character tag probabilities (CRF forward-backward, or softmax)."""


def ensemble_decode(
    models: Sequence[CharTagger],
    chars: torch.Tensor,
    bigrams: torch.Tensor,
    flags: torch.Tensor,
    mask: torch.Tensor,
    how: str = "scores",
) -> torch.Tensor:
    """int64[B, T]: one decode of the members' combined outputs (`how`, one of DECODES); with "scores" and one member,
    that member's own decode. Why: members trained with different seeds err differently, and combining them cuts that
    variance at one forward pass per member and a single Viterbi."""
    if how not in DECODES:
        raise ValueError(f"unknown ensemble decode {how!r}; valid: {', '.join(DECODES)}")
    if not models:
        raise ValueError("ensemble_decode needs at least one model")
    emissions = [m(chars, bigrams, flags) for m in models]  # each [B, T, n_tags]
    crfs = [m.crf for m in models if m.crf is not None]
    if crfs and len(crfs) != len(models):
        raise ValueError("ensemble members must all have a CRF or none")
    if how == "marginals":
        if not crfs:
            return torch.stack([e.softmax(-1) for e in emissions]).mean(0).argmax(-1)
        probs = torch.stack([crf.marginals(e, mask) for crf, e in zip(crfs, emissions, strict=True)]).mean(0)
        return crfs[0].decode_marginals(probs, mask)
    mean = torch.stack(emissions).mean(0)  # [B, T, n_tags]
    if not crfs:
        return mean.argmax(-1)
    return viterbi(mean, mask, *mean_scores(crfs))
