"""Encode a catalogue into the vector store, incrementally: only new or changed item texts are encoded."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, get_args

import numpy as np
import polars as pl

from tiderec.config import to_dict
from tiderec.errors import DatasetError
from tiderec.text.encoders.base import TextEncoder
from tiderec.text.store import ItemVectors, VectorSpace
from tiderec.text.template import Field, ItemTextTemplate, render, text_hashes
from tiderec.types import Items


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
    """What an encoding run must do: the rendered store with reused vectors filled in, and the distinct texts
    still to encode (`unique`); `fill` puts their vectors in place. Shared by the local and the Ray engine."""

    store: ItemVectors
    todo: np.ndarray
    pending: list[str]
    unique: list[str]
    reused: int
    dropped: int
    title_fallbacks: int
    empty_texts: int

    def fill(self, encoded: np.ndarray) -> None:
        """Vectors float32[len(unique), dim] of `unique`, in that order."""
        if len(self.unique) == len(self.pending):
            self.store.vectors[self.todo] = encoded
        elif self.unique:
            position = {text: k for k, text in enumerate(self.unique)}
            self.store.vectors[self.todo] = encoded[[position[t] for t in self.pending]]

    def report(self, encoder: str, over_length: int, seconds: float) -> EncodeReport:
        return EncodeReport(
            encoder=encoder,
            items=len(self.store),
            encoded=len(self.pending),
            reused=self.reused,
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
    vectors = np.zeros((n, space.dim), dtype=np.float32)
    has_text = np.fromiter((bool(t) for t in rendered.texts), dtype=bool, count=n)
    reused = np.zeros(n, dtype=bool)
    if previous is not None and previous.space == space:
        old = pl.DataFrame({"item_id": previous.item_ids, "text_hash": previous.text_hashes}).with_row_index("old")
        new = pl.DataFrame({"item_id": ids, "text_hash": hashes}).with_row_index("new")
        same = new.join(old, on=["item_id", "text_hash"], how="inner")
        vectors[same["new"].to_numpy()] = previous.vectors[same["old"].to_numpy()]
        reused[same["new"].to_numpy()] = True
    reused &= has_text
    todo = has_text & ~reused
    dropped = 0 if previous is None else int(previous.item_ids.is_in(ids.implode()).not_().sum())
    pending = [rendered.texts[i] for i in np.flatnonzero(todo)]
    store = ItemVectors(
        item_ids=ids,
        vectors=vectors,
        text_hashes=hashes,
        texts=pl.Series("text", rendered.texts, dtype=pl.String),
        space=space,
        template=to_dict(template),
    )
    return EncodePlan(
        store,
        todo,
        pending,
        list(dict.fromkeys(pending)),
        int(reused.sum()),
        dropped,
        rendered.title_fallbacks,
        rendered.empty,
    )


def encode_items(
    items: Items,
    encoder: TextEncoder,
    template: ItemTextTemplate | None = None,
    previous: ItemVectors | None = None,
    progress: bool = True,
) -> tuple[ItemVectors, EncodeReport]:
    """Vectors for every item of `items` (rows in its order), in this process.

    Vectors of `previous` are reused where the space (encoder, version, template) matches and the item's
    text is unchanged; identical texts are encoded once; an item without any text keeps a zero vector.
    """
    tpl = template or ItemTextTemplate()
    plan = plan_encoding(items, space_of(encoder, tpl), tpl, previous)
    start = time.perf_counter()
    over_length = encoder.count_over_length(plan.unique) if plan.unique else 0
    if plan.unique:
        plan.fill(encoder.encode_passages(plan.unique, progress=progress))
    return plan.store, plan.report(encoder.name, over_length, time.perf_counter() - start)
