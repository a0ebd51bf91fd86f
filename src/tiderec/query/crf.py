"""A linear-chain CRF over BIO tags: emissions float[B, T, n_tags] + mask bool[B, T] -> negative log-likelihood
(training) or the Viterbi path int64[B, T] (inference). Transitions that break BIO (O -> I-X, B-X -> I-Y, start
-> I-X) are forbidden, so every decoded path is a valid BIO sequence. Pure torch, no data handling."""

from __future__ import annotations

import torch
from torch import nn

FORBIDDEN = -1e4
"""Score added to a transition that BIO does not allow (large enough that Viterbi never takes it)."""


def allowed_transitions(tags: list[str]) -> torch.Tensor:
    """bool[n_tags, n_tags]: allowed[i, j] says tag j may follow tag i (I-X only after B-X or I-X)."""
    n = len(tags)
    allowed = torch.ones(n, n, dtype=torch.bool)
    for j, to in enumerate(tags):
        if to.startswith("I-"):
            for i, before in enumerate(tags):
                allowed[i, j] = before[2:] == to[2:] and before[:2] in ("B-", "I-")
    return allowed


class CRF(nn.Module):
    """Learned transition scores (plus start and end scores); BIO-invalid moves masked out by a fixed penalty."""

    penalty: torch.Tensor
    start_penalty: torch.Tensor

    def __init__(self, tags: list[str]) -> None:
        super().__init__()
        n = len(tags)
        self.transitions = nn.Parameter(torch.zeros(n, n))
        self.start = nn.Parameter(torch.zeros(n))
        self.end = nn.Parameter(torch.zeros(n))
        penalty = torch.where(allowed_transitions(tags), 0.0, FORBIDDEN)
        start_penalty = torch.tensor([FORBIDDEN if t.startswith("I-") else 0.0 for t in tags])
        self.register_buffer("penalty", penalty, persistent=False)
        self.register_buffer("start_penalty", start_penalty, persistent=False)

    def _scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        trans: torch.Tensor = self.transitions + self.penalty  # [n, n]
        start: torch.Tensor = self.start + self.start_penalty  # [n]
        return trans, start

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of the gold paths; every row needs mask[:, 0] true (left-aligned)."""
        trans, start = self._scores()
        b, t, _ = emissions.shape
        rows = torch.arange(b)
        maskf = mask.to(emissions.dtype)  # [B, T]
        gold = start[tags[:, 0]] + emissions[rows, 0, tags[:, 0]]  # [B]
        alpha = start + emissions[:, 0]  # [B, n]
        for k in range(1, t):
            step = trans[tags[:, k - 1], tags[:, k]] + emissions[rows, k, tags[:, k]]  # [B]
            gold = gold + step * maskf[:, k]
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + emissions[:, k]  # [B, n]
            alpha = torch.where(mask[:, k : k + 1], nxt, alpha)
        last = tags[rows, mask.sum(1) - 1]  # [B]
        gold = gold + self.end[last]
        log_z = torch.logsumexp(alpha + self.end, dim=1)  # [B]
        return (log_z - gold).mean()

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """int64[B, T]: the best valid path per row (positions past a row's length hold 0)."""
        trans, start = self._scores()
        b, t, n = emissions.shape
        score = start + emissions[:, 0]  # [B, n]
        back = torch.zeros(b, t, n, dtype=torch.long)
        for k in range(1, t):
            best, arg = (score.unsqueeze(2) + trans.unsqueeze(0)).max(dim=1)  # [B, n]
            keep = mask[:, k : k + 1]
            back[:, k] = torch.where(keep, arg, torch.arange(n).expand(b, n))
            score = torch.where(keep, best + emissions[:, k], score)
        last = (score + self.end).argmax(dim=1)  # [B]
        path = torch.zeros(b, t, dtype=torch.long)
        path[:, t - 1] = last
        for k in range(t - 1, 0, -1):
            path[:, k - 1] = back[torch.arange(b), k, path[:, k]]
        return path * mask.long()
