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


def encode_items(
    items: Items,
    encoder: TextEncoder,
    template: ItemTextTemplate | None = None,
    previous: ItemVectors | None = None,
    progress: bool = True,
) -> tuple[ItemVectors, EncodeReport]:
    """Vectors for every item of `items` (rows in its order).

    Vectors of `previous` are reused where the space (encoder, version, template) matches and the item's
    text is unchanged; identical texts are encoded once; an item without any text keeps a zero vector.
    """
    tpl = template or ItemTextTemplate()
    space = space_of(encoder, tpl)
    rendered = render(items, tpl)
    if len(items) and rendered.empty == len(items):
        raise DatasetError(
            f"none of the {len(items):,} items has text in the template fields {list(tpl.fields)}; "
            f"valid fields: {list(get_args(Field))} (e.g. add 'attributes' for attribute-only catalogues)"
        )
    hashes = text_hashes(rendered.texts)
    ids = items.frame["item_id"]
    n = ids.len()
    vectors = np.zeros((n, encoder.dim), dtype=np.float32)
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
    start = time.perf_counter()
    pending = [rendered.texts[i] for i in np.flatnonzero(todo)]
    unique = list(dict.fromkeys(pending))
    over_length = encoder.count_over_length(unique) if unique else 0
    if unique:
        encoded = encoder.encode_passages(unique, progress=progress)
        position = {text: k for k, text in enumerate(unique)}
        vectors[todo] = encoded[[position[t] for t in pending]]
    seconds = time.perf_counter() - start
    store = ItemVectors(
        item_ids=ids,
        vectors=vectors,
        text_hashes=hashes,
        texts=pl.Series("text", rendered.texts, dtype=pl.String),
        space=space,
        template=to_dict(tpl),
    )
    report = EncodeReport(
        encoder=encoder.name,
        items=n,
        encoded=len(pending),
        reused=int(reused.sum()),
        dropped=dropped,
        title_fallbacks=rendered.title_fallbacks,
        empty_texts=rendered.empty,
        over_length=over_length,
        seconds=round(seconds, 3),
    )
    return store, report
