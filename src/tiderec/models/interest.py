"""The tiderec interest model: a causal transformer over a user's events whose item representation joins an
id embedding, a learned adapter over the item's language-model vector and attribute embeddings; event types,
time gaps and positions are embedded too. The state at each position is the user's interest at that moment.

Scores add a repeat term: for items already in the prefix, each earlier occurrence adds
alpha + beta * decay^age, with (alpha, beta) read from the state, so the model learns when a shopper re-buys;
optionally a co-occurrence term, w * decay^age * ItemKNN similarity summed over the prefix, and a new-interest
shift term: while the window ends in a run of events in interests absent from the window before the run, every item
of the run's interests gains v (w and v are chosen on validation after training, 0 included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from tiderec.config import STRICT
from tiderec.data.sequences import GAP_BUCKETS
from tiderec.errors import ConfigError
from tiderec.models.base import SequenceModel
from tiderec.models.layers import CausalTransformer, init_weights, positions
from tiderec.models.text_tower import TextTower
from tiderec.types import EVENT_TYPES


@dataclass(frozen=True)
class InterestConfig:
    """Settings of the interest model; the use_* switches exist for ablations and for text-only cold start.
    text_tuning='lora' re-encodes item texts with the language model inside training, LoRA (rank, alpha) on
    its attention; the tuned vectors replace the stored ones when training ends."""

    __pydantic_config__ = STRICT

    dim: int = 64
    layers: int = 2
    heads: int = 2
    inner: int = 256
    dropout: float = 0.5
    attn_dropout: float = 0.5
    id_dropout: float = 0.0
    """Training only: the share of items whose id embedding is left out of a representation, so that the
    attributes and text carry meaning alone (for items with few interactions, whose ids are barely trained)."""
    use_ids: bool = True
    use_text: bool = True
    use_attributes: bool = True
    use_event_types: bool = True
    use_time: bool = True
    use_repeat: bool = True
    repeat_decay: float = 0.8
    text_tuning: Literal["frozen", "lora"] = "frozen"
    lora_rank: int = 8
    lora_alpha: float = 8.0
    lora_max_tokens: int = 64
    neighbours: int = 100
    """Neighbours kept per item for the co-occurrence term (0: none). Scores then add w * the sum over the prefix
    of repeat_decay^age * similarity(history item, item), the similarity being ItemKNN's over the training
    sequences and w chosen on validation once training ends (w = 0 while training)."""

    shift: bool = True
    """The new-interest shift term: when the window ends in a run (it starts at an event whose interest the window
    never had after `shift_min_history` known events, and goes on while every event is in an interest absent
    from the window before it, as in dynamics/lasting.py), every item in the run's interests gains v, v chosen on
    validation once training ends (v = 0 while training). Needs each item's interest (`set_interests`)."""
    shift_min_history: int = 5

    def __post_init__(self) -> None:
        if self.shift_min_history < 0:
            raise ConfigError(f"model: shift_min_history must be >= 0, got {self.shift_min_history}")
        if not 0.0 <= self.id_dropout < 1.0:
            raise ConfigError(f"model: id_dropout must be in [0, 1), got {self.id_dropout}")
        if self.neighbours < 0:
            raise ConfigError(f"model: neighbours must be >= 0, got {self.neighbours}")


class InterestModel(SequenceModel):
    """item_vectors: float[N, d_text] language-model vectors (zero rows = no text) or None;
    item_attributes: int64[N, A] attribute ids + 1 (0 = pad) or None; text_tower: re-encodes item texts in
    place of item_vectors while training (text_tuning='lora'), removed by `finish`."""

    def __init__(
        self,
        n_items: int,
        max_len: int,
        config: InterestConfig,
        item_vectors: torch.Tensor | None = None,
        item_attributes: torch.Tensor | None = None,
        n_attributes: int = 0,
        text_tower: TextTower | None = None,
    ) -> None:
        super().__init__()
        cfg = config
        self.n_items = n_items
        self.config = cfg
        d = cfg.dim
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0) if cfg.use_ids else None
        self.text_adapter: nn.Module | None = None
        if cfg.use_text and item_vectors is not None:
            padded = torch.cat([torch.zeros(1, item_vectors.shape[1]), item_vectors.float()])
            self.register_buffer("item_vectors", padded)
            self.text_adapter = nn.Sequential(
                nn.Linear(item_vectors.shape[1], 2 * d), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(2 * d, d)
            )
        self.attr_emb: nn.Embedding | None = None
        if cfg.use_attributes and item_attributes is not None and n_attributes > 0:
            padded_attrs = torch.cat([torch.zeros(1, item_attributes.shape[1], dtype=torch.long), item_attributes])
            self.register_buffer("item_attributes", padded_attrs)
            self.attr_emb = nn.Embedding(n_attributes + 1, d, padding_idx=0)
        if self.item_emb is None and self.text_adapter is None and self.attr_emb is None:
            raise ValueError("InterestModel needs ids, text vectors or attributes to represent items")
        self.type_emb = nn.Embedding(len(EVENT_TYPES) + 1, d, padding_idx=0) if cfg.use_event_types else None
        self.gap_emb = nn.Embedding(GAP_BUCKETS, d, padding_idx=0) if cfg.use_time else None
        self.next_gap_emb = nn.Embedding(GAP_BUCKETS, d, padding_idx=0) if cfg.use_time else None
        self.pos_emb = nn.Embedding(max_len, d)
        self.input_norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = CausalTransformer(d, cfg.layers, cfg.heads, cfg.inner, cfg.dropout, cfg.attn_dropout)
        self.repeat_head = nn.Linear(d, 2) if cfg.use_repeat else None
        if cfg.neighbours:
            self.register_buffer("neighbour_items", torch.zeros(n_items + 1, cfg.neighbours, dtype=torch.long))
            self.register_buffer("neighbour_sims", torch.zeros(n_items + 1, cfg.neighbours))
            self.register_buffer("neighbour_weight", torch.zeros(()))
        if cfg.shift:
            self.register_buffer("item_interest", torch.zeros(n_items + 1, dtype=torch.long))
            self.register_buffer("shift_weight", torch.zeros(()))
        init_weights(self)
        self.text_tower = text_tower if self.text_adapter is not None else None

    def represent(self, ids: torch.Tensor) -> torch.Tensor:
        """float[..., D] representation of item ids + 1 (0 = pad gives an arbitrary row; mask it)."""
        parts = []
        if self.item_emb is not None:
            id_part = self.item_emb(ids)
            others = self.text_adapter is not None or self.attr_emb is not None
            if self.training and self.config.id_dropout > 0 and others:
                kept = torch.rand(ids.shape, device=ids.device) >= self.config.id_dropout
                id_part = id_part * kept[..., None]
            parts.append(id_part)
        if self.text_adapter is not None:
            vectors = self.text_tower(ids) if self.text_tower is not None else self.get_buffer("item_vectors")[ids]
            parts.append(self.text_adapter(vectors))
        if self.attr_emb is not None:
            attrs = self.get_buffer("item_attributes")[ids]  # [..., A]
            summed = self.attr_emb(attrs).sum(dim=-2)
            parts.append(summed / (attrs > 0).sum(dim=-1, keepdim=True).clamp(min=1))
        out: torch.Tensor = torch.stack(parts).sum(dim=0)
        return out

    def encode(self, items: torch.Tensor, event_types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        valid = items > 0  # [B, T]
        x = self.represent(items) + self.pos_emb(positions(valid))  # [B, T, D]
        if self.type_emb is not None:
            x = x + self.type_emb(event_types)
        if self.gap_emb is not None:
            x = x + self.gap_emb(gaps)
        x = self.drop(self.input_norm(x)) * valid[..., None]
        states: torch.Tensor = self.encoder(x, valid)  # [B, T, D]
        return states

    def at_moment(self, states: torch.Tensor, next_gaps: torch.Tensor) -> torch.Tensor:
        if self.next_gap_emb is None:
            return states
        out: torch.Tensor = states + self.next_gap_emb(next_gaps)
        return out

    @torch.no_grad()
    def finish(self) -> None:
        """Write the tuned text tower's vectors into item_vectors and drop the tower: the trained model then
        saves, loads and serves like one trained on stored vectors."""
        if self.text_tower is None:
            return
        training = self.training
        self.eval()
        vectors = self.get_buffer("item_vectors")
        ids = torch.arange(self.n_items + 1, device=vectors.device)
        vectors.copy_(self.text_tower(ids).to(vectors.dtype))
        self.text_tower = None
        self.train(training)

    def item_table(self) -> torch.Tensor:
        ids = torch.arange(1, self.n_items + 1, device=self.pos_emb.weight.device)
        return self.represent(ids)

    def item_rows(self, items: torch.Tensor) -> torch.Tensor:
        return self.represent(items + 1)

    @torch.no_grad()
    def set_neighbours(self, similarity: sp.csr_matrix) -> None:
        """Fill the co-occurrence term's table from a float[N, N] item similarity (each row's largest entries)."""
        k = self.config.neighbours
        if not k:
            raise ValueError("set_neighbours needs InterestConfig.neighbours > 0")
        items = np.zeros((self.n_items + 1, k), dtype=np.int64)
        sims = np.zeros((self.n_items + 1, k), dtype=np.float32)
        for row in range(min(similarity.shape[0], self.n_items)):
            lo, hi = similarity.indptr[row], similarity.indptr[row + 1]
            top = lo + np.argsort(-similarity.data[lo:hi], kind="stable")[:k]
            items[row + 1, : top.size] = similarity.indices[top]
            sims[row + 1, : top.size] = similarity.data[top]
        self.get_buffer("neighbour_items").copy_(torch.from_numpy(items))
        self.get_buffer("neighbour_sims").copy_(torch.from_numpy(sims))

    def neighbour_term_on(self) -> bool:
        return bool(self.config.neighbours) and float(self.get_buffer("neighbour_weight")) != 0.0

    @torch.no_grad()
    def set_interests(self, codes: np.ndarray) -> None:
        """Each item's interest for the shift term: codes int64[N] (-1: none), as in data.space.InterestSpace."""
        if not self.config.shift:
            raise ValueError("set_interests needs InterestConfig.shift")
        if codes.shape != (self.n_items,):
            raise ValueError(f"set_interests: codes must be [{self.n_items}], got {codes.shape}")
        padded = np.concatenate([[0], np.maximum(codes.astype(np.int64), -1) + 1])
        self.get_buffer("item_interest").copy_(torch.from_numpy(padded))

    def shift_term_on(self) -> bool:
        return self.config.shift and float(self.get_buffer("shift_weight")) != 0.0

    def new_interest_run(self, history: torch.Tensor, in_prefix: torch.Tensor) -> torch.Tensor:
        """bool[P, C + 1]: the interests (code + 1; column 0, no interest, never set) of the run of new interests
        each prefix ends in (none when it ends in no run). history int64[P, T] (ids + 1), in_prefix bool[P, T]."""
        codes = self.get_buffer("item_interest")[history]  # [P, T]
        known = in_prefix & (codes > 0)
        t = torch.arange(history.shape[1], device=history.device)
        same = (codes[:, :, None] == codes[:, None, :]) & known[:, None, :]  # [P, T, T]: code of t seen at u
        first = torch.where(same, t, history.shape[1]).amin(dim=2)  # [P, T]: the first position of t's code
        first = torch.where(known, first, history.shape[1])
        later = first.flip(1).cummin(dim=1).values.flip(1)  # [P, T]: min first position over positions >= t
        before = known.cumsum(dim=1) - known.long()
        starts = known & (first == t) & (later >= t) & (before >= self.config.shift_min_history)
        start = torch.where(starts, t, history.shape[1]).amin(dim=1)  # [P]: the longest run's start (T: none)
        in_run = known & (t[None, :] >= start[:, None])
        rows = torch.arange(history.shape[0], device=history.device)[:, None].expand_as(codes)
        width = int(self.get_buffer("item_interest").max()) + 1
        out = torch.zeros((history.shape[0], width), dtype=torch.bool, device=history.device)
        out[rows[in_run], codes[in_run]] = True
        return out

    def shifted_items(self, history: torch.Tensor, in_prefix: torch.Tensor) -> torch.Tensor:
        """bool[P, N]: the items in the interests of the run of new interests each prefix ends in."""
        run = self.new_interest_run(history, in_prefix)
        return run[:, self.get_buffer("item_interest")[1:]]

    def _add_shift(self, scores: torch.Tensor, history: torch.Tensor, in_prefix: torch.Tensor) -> torch.Tensor:
        """scores float[P, N] + v, in place, at the items of each prefix's run of new interests; only the rows that
        end in a run are touched. Each row's bonus is read per interest (index_select of v x run over the items'
        codes), not through a bool[R, N] mask and a float copy of the rows: on a 101,888-item catalogue whose rows
        all end in runs, that cost 9.6 ms per 16 rows against 1.5 ms (both finding the runs), more than the matrix
        product."""
        run = self.new_interest_run(history, in_prefix)  # [P, C + 1]
        rows = run.any(dim=1).nonzero().squeeze(1)  # [R]
        if rows.numel():
            per_interest = self.get_buffer("shift_weight") * run[rows].to(scores.dtype)  # [R, C + 1]
            scores.index_add_(0, rows, per_interest.index_select(1, self.get_buffer("item_interest")[1:]))
        return scores

    def score_positions(
        self,
        picked: torch.Tensor,
        history: torch.Tensor,
        cols: torch.Tensor,
        in_prefix: torch.Tensor,
        table: torch.Tensor | None = None,
        candidates: torch.Tensor | None = None,
    ) -> torch.Tensor:
        scores = self.base_scores(picked, table, candidates)  # [P, N]
        if self.shift_term_on():
            scores = self._add_shift(scores, history, in_prefix)
        neighbours = self.neighbour_term_on()
        if self.repeat_head is None and not neighbours:
            return scores
        t = torch.arange(history.shape[1], device=history.device)
        recency = self.config.repeat_decay ** (cols[:, None] - t[None, :]).clamp(min=0).float()  # [P, T]
        if self.repeat_head is not None:
            weights = self.repeat_head(picked)  # [P, 2]
            contrib = weights[:, :1] + weights[:, 1:] * recency  # [P, T]
            contrib = torch.where(in_prefix, contrib, torch.zeros_like(contrib))
            scores = scores.scatter_add_(1, (history - 1).clamp(min=0), contrib)
        if neighbours:
            near = self.get_buffer("neighbour_items")[history]  # [P, T, K]
            sims = self.get_buffer("neighbour_sims")[history] * torch.where(in_prefix, recency, 0.0)[..., None]
            weight = self.get_buffer("neighbour_weight")
            scores = scores.scatter_add_(1, near.flatten(1), weight * sims.flatten(1))
        return scores

    def reachable(self, history: torch.Tensor) -> torch.Tensor:
        """bool[B, N]: the items the history terms can move for histories of ids + 1 int64[B, T] (their items
        when the repeat term is on, their co-occurrence neighbours when that term is, the items of the run's
        interests when the shift term is): the candidates a retrieval index must add so that scoring candidates
        equals scoring every item."""
        if self.shift_term_on():
            out = self.shifted_items(history, history > 0)
        else:
            out = torch.zeros((history.shape[0], self.n_items), dtype=torch.bool, device=history.device)
        rows = torch.arange(history.shape[0], device=history.device)[:, None].expand_as(history)
        known = history > 0
        if self.repeat_head is not None:
            out[rows[known], history[known] - 1] = True
        if self.neighbour_term_on():
            near = self.get_buffer("neighbour_items")[history]  # [B, T, K]
            linked = (self.get_buffer("neighbour_sims")[history] != 0) & known[..., None]
            out[rows[..., None].expand_as(near)[linked], near[linked]] = True
        return out
