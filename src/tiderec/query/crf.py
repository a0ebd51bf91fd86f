"""A linear-chain CRF over BIO tags: emissions float[B, T, n_tags] + mask bool[B, T] -> negative log-likelihood
(training) or the Viterbi path int64[B, T] (inference). Transitions that break BIO (O -> I-X, B-X -> I-Y, start
-> I-X) are forbidden, so every decoded path is a valid BIO sequence. viterbi takes the scores explicitly, so an
ensemble decodes its members' mean scores (mean_scores) once. Pure torch, no data handling."""

from __future__ import annotations

from collections.abc import Sequence

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

    def nll(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, allowed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean negative log-likelihood of the gold paths; every row needs mask[:, 0] true (left-aligned). With
        `allowed` bool[B, T, n] (a partially labelled batch), the gold score of a row is the log-sum over every path
        through its allowed tags (`tags` is then unused): a title annotated for some types only does not teach
        that the others are absent."""
        trans, start = self._scores()
        if allowed is not None:
            log_z = self._log_partition(emissions, mask, trans, start)
            return (log_z - self._log_partition(emissions, mask, trans, start, allowed)).mean()
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

    def _log_partition(
        self,
        emissions: torch.Tensor,
        mask: torch.Tensor,
        trans: torch.Tensor,
        start: torch.Tensor,
        allowed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """float[B]: log-sum of the scores of every path (through the allowed tags only, when given)."""
        if allowed is not None:
            emissions = emissions.masked_fill(~allowed, FORBIDDEN)  # [B, T, n]
        alpha = start + emissions[:, 0]  # [B, n]
        for k in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + emissions[:, k]  # [B, n]
            alpha = torch.where(mask[:, k : k + 1], nxt, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """int64[B, T]: the best valid path per row (positions past a row's length hold 0)."""
        trans, start = self._scores()
        return viterbi(emissions, mask, trans, start, self.end)

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """float[B, T, n]: P(tag at position | sentence) by forward-backward (rows past a row's length: undefined)."""
        trans, start = self._scores()
        _, t, _ = emissions.shape
        alphas = [start + emissions[:, 0]]  # each [B, n]
        for k in range(1, t):
            nxt = torch.logsumexp(alphas[-1].unsqueeze(2) + trans.unsqueeze(0), dim=1) + emissions[:, k]
            alphas.append(torch.where(mask[:, k : k + 1], nxt, alphas[-1]))
        end = self.end.expand_as(alphas[0])
        betas = [end]  # betas[0] is position t - 1
        for k in range(t - 2, -1, -1):
            after = emissions[:, k + 1] + betas[-1]  # [B, n]
            nxt = torch.logsumexp(trans.unsqueeze(0) + after.unsqueeze(1), dim=2)  # [B, n]
            betas.append(torch.where(mask[:, k + 1 : k + 2], nxt, end))
        log_z = torch.logsumexp(alphas[-1] + self.end, dim=1)  # [B]
        joint = torch.stack(alphas, dim=1) + torch.stack(betas[::-1], dim=1)  # [B, T, n]
        return torch.exp(joint - log_z[:, None, None])

    def decode_marginals(self, probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """int64[B, T]: the valid BIO path with the highest sum of log tag probabilities probs float[B, T, n] (e.g.
        marginals averaged over an ensemble's members); only the BIO constraints of this CRF apply."""
        logp = torch.log(probs.clamp_min(1e-9))
        return viterbi(logp, mask, self.penalty, self.start_penalty, torch.zeros_like(self.start_penalty))


def mean_scores(crfs: Sequence[CRF]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean transition [n, n], start [n] and end [n] scores (BIO penalties included) of CRFs over the same tags: with
    mean emissions, one Viterbi decodes an ensemble (a product of the members' path scores)."""
    if not crfs:
        raise ValueError("mean_scores needs at least one CRF")
    parts = [(*crf._scores(), crf.end) for crf in crfs]
    trans, start, end = (torch.stack(p).mean(0) for p in zip(*parts, strict=True))
    return trans, start, end


def viterbi(
    emissions: torch.Tensor, mask: torch.Tensor, trans: torch.Tensor, start: torch.Tensor, end: torch.Tensor
) -> torch.Tensor:
    """int64[B, T]: the best path per row under emissions float[B, T, n], transitions [n, n], start and end scores
    [n] (positions past a row's length, mask bool[B, T] false, hold 0)."""
    b, t, n = emissions.shape
    score = start + emissions[:, 0]  # [B, n]
    back = torch.zeros(b, t, n, dtype=torch.long)
    for k in range(1, t):
        best, arg = (score.unsqueeze(2) + trans.unsqueeze(0)).max(dim=1)  # [B, n]
        keep = mask[:, k : k + 1]
        back[:, k] = torch.where(keep, arg, torch.arange(n).expand(b, n))
        score = torch.where(keep, best + emissions[:, k], score)
    last = (score + end).argmax(dim=1)  # [B]
    path = torch.zeros(b, t, dtype=torch.long)
    path[:, t - 1] = last
    for k in range(t - 1, 0, -1):
        path[:, k - 1] = back[torch.arange(b), k, path[:, k]]
    return path * mask.long()
