"""Encode a catalogue into the vector store, incrementally: only new or changed item texts are encoded."""

from __future__ import annotations

import mmap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import polars as pl
from tqdm import tqdm

from tiderec.config import to_dict
from tiderec.errors import DatasetError
from tiderec.text.encoders.base import TextEncoder
from tiderec.text.store import ItemVectors, VectorSpace, write_store
from tiderec.text.template import Field, ItemTextTemplate, default_template, render, text_hashes
from tiderec.types import Items

CHUNK = 8192
"""Texts encoded (and rows copied) per step: bounds the memory an encoding run holds besides its target."""


@dataclass(frozen=True)
class EncodeReport:
    """What an encoding run did: items in the store, texts encoded vs reused, and text problems counted."""

    encoder: str
    items: int
    encoded: int
    reused: int
    dropped: int
    title_fallbacks: int
    empty_texts: int
    over_length: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "items_per_second": round(self.items_per_second, 1)}


def space_of(encoder: TextEncoder, template: ItemTextTemplate) -> VectorSpace:
    return VectorSpace(encoder.name, encoder.version, encoder.dim, True, template.hash())


@dataclass
class EncodePlan:
    """What an encoding run must do: rows whose vectors are reused from the previous store (`reuse_new` <-
    `reuse_old`), rows to encode (`todo`) and the distinct texts among them (`unique`; `slot[k]` is the position
    in `unique` of row `todo[k]`'s text). Shared by the local and the Ray engine, which fill a target array
    float32[items, dim] chunk by chunk (a file-backed one keeps memory flat in catalogue size)."""

    item_ids: pl.Series
    text_hashes: pl.Series
    texts: pl.Series
    space: VectorSpace
    template: dict[str, Any]
    reuse_new: np.ndarray
    reuse_old: np.ndarray
    todo: np.ndarray
    slot: np.ndarray
    unique: list[str]
    dropped: int
    title_fallbacks: int
    empty_texts: int

    def __post_init__(self) -> None:
        self._order = np.argsort(self.slot, kind="stable")
        self._sorted = self.slot[self._order]

    def copy_reused(self, previous: np.ndarray, target: np.ndarray, chunk: int = CHUNK) -> None:
        """Reused vectors from `previous` float32[old items, dim] into their rows of `target`."""
        for first in range(0, len(self.reuse_new), chunk):
            part = slice(first, first + chunk)
            target[self.reuse_new[part]] = previous[self.reuse_old[part]]
            release(previous, target)

    def place(self, which: np.ndarray, encoded: np.ndarray, target: np.ndarray) -> None:
        """Vectors float32[k, dim] of the texts `unique[which]` (int64[k]) into every row that has them."""
        low = np.searchsorted(self._sorted, which, side="left")
        counts = np.searchsorted(self._sorted, which, side="right") - low
        starts = np.repeat(low - (np.cumsum(counts) - counts), counts)
        picked = starts + np.arange(int(counts.sum()))
        target[self.todo[self._order[picked]]] = encoded[np.repeat(np.arange(len(which)), counts)]
        release(target)

    def store(self, vectors: np.ndarray) -> ItemVectors:
        return ItemVectors(self.item_ids, vectors, self.text_hashes, self.texts, self.space, self.template)

    def report(self, encoder: str, over_length: int, seconds: float) -> EncodeReport:
        return EncodeReport(
            encoder=encoder,
            items=self.item_ids.len(),
            encoded=len(self.todo),
            reused=len(self.reuse_new),
            dropped=self.dropped,
            title_fallbacks=self.title_fallbacks,
            empty_texts=self.empty_texts,
            over_length=over_length,
            seconds=round(seconds, 3),
        )


def plan_encoding(
    items: Items, space: VectorSpace, template: ItemTextTemplate, previous: ItemVectors | None = None
) -> EncodePlan:
    """Render item texts; reuse `previous` vectors where the space matches and the text is unchanged; list the
    distinct texts left to encode (an item without any text keeps a zero vector)."""
    rendered = render(items, template)
    if len(items) and rendered.empty == len(items):
        raise DatasetError(
            f"none of the {len(items):,} items has text in the template fields {list(template.fields)}; "
            f"valid fields: {list(get_args(Field))} (e.g. add 'attributes' for attribute-only catalogues)"
        )
    hashes = text_hashes(rendered.texts)
    ids = items.frame["item_id"]
    n = ids.len()
    has_text = np.fromiter((bool(t) for t in rendered.texts), dtype=bool, count=n)
    reuse_new = reuse_old = np.zeros(0, dtype=np.int64)
    if previous is not None and previous.space == space:
        old = pl.DataFrame({"item_id": previous.item_ids, "text_hash": previous.text_hashes}).with_row_index("old")
        new = pl.DataFrame({"item_id": ids, "text_hash": hashes}).with_row_index("new")
        same = new.join(old, on=["item_id", "text_hash"], how="inner").sort("new")
        keep = has_text[same["new"].to_numpy()]
        reuse_new = same["new"].to_numpy().astype(np.int64)[keep]
        reuse_old = same["old"].to_numpy().astype(np.int64)[keep]
    todo_mask = has_text.copy()
    todo_mask[reuse_new] = False
    todo = np.flatnonzero(todo_mask)
    position: dict[str, int] = {}
    slot = np.fromiter((position.setdefault(rendered.texts[i], len(position)) for i in todo), np.int64, len(todo))
    dropped = 0 if previous is None else int(previous.item_ids.is_in(ids.implode()).not_().sum())
    return EncodePlan(
        ids, hashes, pl.Series("text", rendered.texts, dtype=pl.String), space, to_dict(template),
        reuse_new, reuse_old, todo, slot, list(position), dropped, rendered.title_fallbacks, rendered.empty,
    )  # fmt: skip


def release(*arrays: np.ndarray) -> None:
    """Hand the pages of file-backed arrays (np.memmap) back to the kernel once written or read: written pages
    are flushed first, so nothing is lost and the resident size stays flat however large the file."""
    for array in arrays:
        base: object = array.base
        if isinstance(array, np.memmap) and isinstance(base, mmap.mmap) and not base.closed:
            if array.mode != "r":
                array.flush()
            base.madvise(mmap.MADV_DONTNEED)


def encode_items(
    items: Items,
    encoder: TextEncoder,
    template: ItemTextTemplate | None = None,
    previous: ItemVectors | None = None,
    progress: bool = True,
    out: Path | None = None,
    chunk: int = CHUNK,
) -> tuple[ItemVectors, EncodeReport]:
    """Vectors for every item of `items` (rows in its order), in this process.

    Vectors of `previous` are reused where the space (encoder, version, template) matches and the item's
    text is unchanged; identical texts are encoded once; an item without any text keeps a zero vector. With
    `out`, the store is written there as it is encoded, `chunk` texts at a time, in memory flat in catalogue
    size (the returned vectors map the written file); without, it is built in memory.
    """
    tpl = template or default_template(items)[0]
    plan = plan_encoding(items, space_of(encoder, tpl), tpl, previous)
    start = time.perf_counter()
    over_length = 0

    def fill(target: np.ndarray) -> None:
        nonlocal over_length
        if previous is not None:
            plan.copy_reused(previous.vectors, target, chunk)
        bar = tqdm(total=len(plan.unique), desc="encode", unit="text", disable=not progress or not plan.unique)
        for first in range(0, len(plan.unique), chunk):
            texts = plan.unique[first : first + chunk]
            over_length += encoder.count_over_length(texts)
            which = np.arange(first, first + len(texts), dtype=np.int64)
            plan.place(which, encoder.encode_passages(texts), target)
            bar.update(len(texts))
        bar.close()

    vectors = fill_store(plan, fill, out)
    return plan.store(vectors), plan.report(encoder.name, over_length, time.perf_counter() - start)


def fill_store(plan: EncodePlan, fill: Callable[[np.ndarray], None], out: Path | None) -> np.ndarray:
    """The plan's vectors float32[items, dim], filled by `fill`: in memory, or written as the store at `out`
    (then mapped read-only from there)."""
    shape = (plan.item_ids.len(), plan.space.dim)
    if out is None:
        vectors = np.zeros(shape, dtype=np.float32)
        fill(vectors)
        return vectors
    return write_store(out, plan.store, shape, fill)
