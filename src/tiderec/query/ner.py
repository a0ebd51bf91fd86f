"""Entity tagging of product titles and queries: BIO data, spans, a dictionary-matching baseline, entity-level
metrics, and training/inference of the character tagger (Taobao title NER: HCCX product word, HPPX brand, XH
model, MISC other attribute)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from tiderec.errors import BadRow, DatasetError
from tiderec.query.tagger import CharTagger

TYPES = {"HCCX": "product", "HPPX": "brand", "XH": "model", "MISC": "attribute"}


@dataclass(frozen=True)
class Sentence:
    chars: list[str]
    tags: list[str]


Span = tuple[int, int, str]
"""(start, end, type): characters [start, end) of one entity."""


def read_bio(path: Path) -> list[Sentence]:
    """'char TAG' per line, a blank line between sentences (CRLF or LF); a bad line is an error naming it."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    out: list[Sentence] = []
    chars: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8", newline=None) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if chars:
                    out.append(Sentence(chars, tags))
                chars, tags = [], []
                continue
            parts = line.rsplit(" ", 1)
            tag = parts[-1]
            if len(parts) != 2 or not (tag == "O" or tag[:2] in ("B-", "I-")):
                raise DatasetError(BadRow(str(path), number, None, "bad tagged line", "'char TAG'", line).describe())
            chars.append(parts[0] or " ")
            tags.append(tag)
    if chars:
        out.append(Sentence(chars, tags))
    return out


def spans(tags: list[str]) -> list[Span]:
    """Entity spans of a BIO sequence (an I- after O or another type starts a new entity)."""
    found: list[Span] = []
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and kind == tag[2:] and start >= 0
        if not inside:
            if start >= 0:
                found.append((start, i, kind))
            start, kind = (i, tag[2:]) if tag != "O" else (-1, "")
    return found


def prf(gold: Iterable[list[Span]], pred: Iterable[list[Span]]) -> dict[str, dict[str, float]]:
    """Entity-level precision, recall, F1 per type (exact span and type) and overall."""
    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        for kind in {s[2] for s in gs | ps} | {"all"}:
            gk = gs if kind == "all" else {s for s in gs if s[2] == kind}
            pk = ps if kind == "all" else {s for s in ps if s[2] == kind}
            c = counts.setdefault(kind, [0, 0, 0])
            c[0] += len(gk & pk)
            c[1] += len(pk)
            c[2] += len(gk)
    out: dict[str, dict[str, float]] = {}
    for kind, (tp, n_pred, n_gold) in counts.items():
        precision, recall = tp / max(n_pred, 1), tp / max(n_gold, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        out[kind] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}
    return out


class Dictionary:
    """Baseline: every entity string of the training data with its most frequent type; longest match first."""

    def __init__(self, sentences: list[Sentence], min_len: int = 2) -> None:
        votes: dict[str, dict[str, int]] = {}
        for s in sentences:
            for a, b, kind in spans(s.tags):
                text = "".join(s.chars[a:b])
                if len(text) >= min_len:
                    votes.setdefault(text, {}).setdefault(kind, 0)
                    votes[text][kind] += 1
        self.terms = {t: max(v, key=lambda k: v[k]) for t, v in votes.items()}
        self.longest = max((len(t) for t in self.terms), default=0)

    def tag(self, chars: list[str]) -> list[Span]:
        text, found, i = "".join(chars), [], 0
        while i < len(chars):
            for n in range(min(self.longest, len(chars) - i), 1, -1):
                kind = self.terms.get(text[i : i + n])
                if kind is not None:
                    found.append((i, i + n, kind))
                    i += n
                    break
            else:
                i += 1
        return found


@dataclass
class TrainedTagger:
    model: CharTagger
    chars: dict[str, int]
    tags: list[str]

    def predict(self, sentences: list[list[str]], batch: int = 256) -> list[list[Span]]:
        self.model.eval()
        out: list[list[Span]] = []
        with torch.inference_mode():
            for start in range(0, len(sentences), batch):
                part = sentences[start : start + batch]
                logits = self.model(_encode(part, self.chars))
                best = logits.argmax(-1).numpy()
                out += [spans([self.tags[t] for t in best[k, : len(s)]]) for k, s in enumerate(part)]
        return out

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(folder / "tagger.safetensors"))
        meta = {"chars": self.chars, "tags": self.tags, "dim": self.model.embed.embedding_dim,
                "hidden": self.model.lstm.hidden_size}  # fmt: skip
        (folder / "tagger.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> TrainedTagger:
        meta = json.loads((folder / "tagger.json").read_text(encoding="utf-8"))
        model = CharTagger(len(meta["chars"]) + 2, len(meta["tags"]), meta.get("dim", 128), meta.get("hidden", 128))
        model.load_state_dict(load_file(str(folder / "tagger.safetensors")))
        return cls(model, meta["chars"], meta["tags"])


def _encode(sentences: list[list[str]], chars: dict[str, int]) -> torch.Tensor:
    """int64[B, T]: char ids (0 pad, 1 unknown), right-padded."""
    width = max((len(s) for s in sentences), default=1)
    ids = np.zeros((len(sentences), width), dtype=np.int64)
    for k, s in enumerate(sentences):
        ids[k, : len(s)] = [chars.get(c, 1) for c in s]
    return torch.from_numpy(ids)


def train_tagger(
    train: list[Sentence],
    valid: list[Sentence],
    epochs: int = 15,
    seed: int = 0,
    progress: bool = True,
    dim: int = 128,
    hidden: int = 128,
) -> tuple[TrainedTagger, list[float]]:
    """AdamW on token cross-entropy; keeps the epoch with the best validation entity F1 (all types)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    chars = {c: i + 2 for i, c in enumerate(sorted({c for s in train for c in s.chars}))}
    tags = ["O", *sorted({t for s in train for t in s.tags} - {"O"})]
    tag_id = {t: i for i, t in enumerate(tags)}
    model = CharTagger(len(chars) + 2, len(tags), dim, hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    tagger = TrainedTagger(model, chars, tags)
    history: list[float] = []
    best, best_state = -1.0, None
    for _ in tqdm(range(epochs), desc="tagger", disable=not progress):
        model.train()
        order = rng.permutation(len(train))
        for start in range(0, len(order), 64):
            batch = [train[i] for i in order[start : start + 64]]
            x = _encode([s.chars for s in batch], chars)
            y = torch.full(x.shape, -100, dtype=torch.long)
            for k, s in enumerate(batch):
                y[k, : len(s.tags)] = torch.tensor([tag_id.get(t, 0) for t in s.tags])
            loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, len(tags)), y.reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        score = prf([spans(s.tags) for s in valid], tagger.predict([s.chars for s in valid]))["all"]["f1"]
        history.append(score)
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    return tagger, history
