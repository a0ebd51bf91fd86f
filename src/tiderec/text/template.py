"""Item text templates: which catalogue fields become the text a language model reads, versioned and hashed.

The rendered text is `title | category path | brand | description snippet | price band`, with empty parts
left out. An item without a title falls back to its category and brand (counted by `render`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from tiderec.config import STRICT, to_dict
from tiderec.types import Items

Field = Literal["title", "category", "brand", "description", "attributes", "price_band"]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ItemTextTemplate:
    """Settings of the item text; `hash()` changes whenever the rendered text could change."""

    __pydantic_config__ = STRICT

    version: str = "v1"
    fields: tuple[Field, ...] = ("title", "category", "brand", "description")
    separator: str = " | "
    category_separator: str = " > "
    description_chars: int = 200
    price_bands: tuple[float, ...] = field(default_factory=lambda: (10.0, 50.0, 200.0, 1000.0))

    def hash(self) -> str:
        """Short stable digest of the settings (goes into every vector store manifest)."""
        blob = json.dumps(to_dict(self), sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class RenderedTexts:
    """One text per item (same order as the Items), and how many needed the title fallback or were empty."""

    texts: list[str]
    title_fallbacks: int
    empty: int


def clean_text(text: str) -> str:
    """Drop control and zero-width characters and collapse whitespace; scripts are left as they are."""
    return _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()


def default_template(items: Items) -> tuple[ItemTextTemplate, str]:
    """The template used when none is given, and why: the default fields; for a catalogue with none of them but
    with attributes (the S3-Rec Amazon files: attribute ids only), the attributes as well."""
    base = ItemTextTemplate()
    frame = items.frame
    texts = [frame[c].cast(pl.String).str.strip_chars().replace("", None) for c in ("title", "brand", "description")]
    listed = [frame[c].list.len().fill_null(0) for c in ("category", "attributes")]
    if not frame.height or any(t.drop_nulls().len() for t in texts) or listed[0].sum() or not listed[1].sum():
        return base, f"fields {list(base.fields)}"
    return (
        ItemTextTemplate(fields=(*base.fields, "attributes")),
        "no item has a title, category, brand or description: the attributes are read",
    )


def render(items: Items, template: ItemTextTemplate) -> RenderedTexts:
    """Render every item's text with `template`; items with no text at all get an empty string."""
    texts: list[str] = []
    fallbacks = empty = 0
    for row in items.frame.iter_rows(named=True):
        names = template.fields
        no_title = "title" in names and not clean_text(str(row["title"] or ""))
        if no_title:
            names = tuple(dict.fromkeys(("category", "brand", *names)))
        parts = [part for name in names if (part := _part(name, row, template))]
        fallbacks += int(no_title and bool(parts))
        empty += int(not parts)
        texts.append(template.separator.join(parts))
    return RenderedTexts(texts, fallbacks, empty)


def _part(name: str, row: dict[str, object], template: ItemTextTemplate) -> str:
    if name == "category":
        path = row["category"]
        return clean_text(template.category_separator.join(str(p) for p in path)) if isinstance(path, list) else ""
    if name == "attributes":
        attrs = row["attributes"]
        return clean_text(", ".join(str(a) for a in attrs)) if isinstance(attrs, list) else ""
    if name == "description":
        text = clean_text(str(row["description"] or ""))
        if len(text) > template.description_chars:
            text = text[: template.description_chars].rsplit(" ", 1)[0] + "…"
        return text
    if name == "price_band":
        return _price_band(row["price"], template.price_bands)
    return clean_text(str(row[name] or ""))


def _price_band(price: object, bands: tuple[float, ...]) -> str:
    if not isinstance(price, float | int) or math.isnan(price) or price <= 0:
        return ""
    for upper in bands:
        if price < upper:
            return f"price under {upper:g}"
    return f"price over {bands[-1]:g}" if bands else ""


def text_hashes(texts: list[str]) -> pl.Series:
    """Per-text digest (16 hex chars) used to find items whose text changed."""
    return pl.Series("text_hash", [hashlib.sha256(t.encode("utf-8")).hexdigest()[:16] for t in texts], dtype=pl.String)
