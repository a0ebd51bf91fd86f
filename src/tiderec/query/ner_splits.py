"""Leak-free splits of the Taobao title NER data: titles de-duplicated, validation held out by title, dev reduced to
titles that never occur in training. Why: the upstream train and dev files share 461 titles (and train repeats
1,390 of its own), so figures on the raw dev file measure memory, not generalisation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiderec.query.ner import Sentence, read_bio


def title(sentence: Sentence) -> str:
    """The title text a sentence tags (the key for de-duplication)."""
    return "".join(sentence.chars)


def unique_titles(sentences: list[Sentence]) -> list[Sentence]:
    """The first tagging of each distinct title, in file order."""
    seen: set[str] = set()
    out: list[Sentence] = []
    for s in sentences:
        key = title(s)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def unseen(sentences: list[Sentence], known: list[Sentence]) -> list[Sentence]:
    """The distinct titles of `sentences` that are not titles of `known`."""
    taken = {title(s) for s in known}
    return [s for s in unique_titles(sentences) if title(s) not in taken]


@dataclass(frozen=True)
class TitleSplits:
    """train/valid: distinct training titles (valid a seeded share held out by title); dev: distinct dev titles not
    in the training file; raw_*: what the files hold, for the record."""

    train: list[Sentence]
    valid: list[Sentence]
    dev: list[Sentence]
    raw_train: int
    raw_dev: int

    def describe(self) -> str:
        return (
            f"train.txt {self.raw_train} titles -> {len(self.train) + len(self.valid)} distinct "
            f"({len(self.train)} train + {len(self.valid)} validation, held out by title); dev.txt {self.raw_dev} "
            f"titles -> {len(self.dev)} distinct titles not in train.txt"
        )


def title_splits(folder: Path, valid_share: float = 0.1, seed: int = 0) -> TitleSplits:
    """The splits of a folder holding train.txt and dev.txt (BIO, one title per block)."""
    raw_train, raw_dev = read_bio(folder / "train.txt"), read_bio(folder / "dev.txt")
    distinct = unique_titles(raw_train)
    held = np.random.default_rng(seed).random(len(distinct)) < valid_share
    train = [s for s, h in zip(distinct, held, strict=True) if not h]
    valid = [s for s, h in zip(distinct, held, strict=True) if h]
    return TitleSplits(train, valid, unseen(raw_dev, raw_train), len(raw_train), len(raw_dev))
