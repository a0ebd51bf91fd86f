"""Settings for reading any tabular file: which source column feeds which field, and how to parse it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tiderec.config import STRICT
from tiderec.types import EventType

TimeFormat = str
"""'auto' (ISO 8601-like text or epoch numbers), 'unix_s', 'unix_ms', 'unix_us', 'order' (a rank that only
orders events), or a strftime pattern."""


@dataclass(frozen=True)
class EventMapping:
    """Source column names for each `Events` field (None = absent); one of event_type/event_type_constant."""

    __pydantic_config__ = STRICT

    user_id: str
    ts: str
    item_id: str | None = None
    event_type: str | None = None
    event_type_constant: EventType | None = None
    event_type_values: Mapping[str, EventType] = field(default_factory=dict)
    value: str | None = None
    session_id: str | None = None
    basket_id: str | None = None
    text: str | None = None
    ts_format: TimeFormat = "auto"
    timezone: str = "UTC"

    def columns(self) -> dict[str, str]:
        """Field name -> source column for every mapped field."""
        names = ("user_id", "item_id", "ts", "event_type", "value", "session_id", "basket_id", "text")
        return {f: col for f in names if (col := getattr(self, f)) is not None}


@dataclass(frozen=True)
class ItemMapping:
    """Source column names for each `Items` field; category/attributes are split on their separators."""

    __pydantic_config__ = STRICT

    item_id: str
    title: str | None = None
    description: str | None = None
    category: str | None = None
    category_separator: str = ">"
    brand: str | None = None
    price: str | None = None
    language: str | None = None
    attributes: str | None = None
    attributes_separator: str = "|"

    def columns(self) -> dict[str, str]:
        names = ("item_id", "title", "description", "category", "brand", "price", "language", "attributes")
        return {f: col for f in names if (col := getattr(self, f)) is not None}


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file: CSV dialect, and what to do with malformed rows."""

    __pydantic_config__ = STRICT

    delimiter: str = ","
    quote_char: str = '"'
    has_header: bool = True
    column_names: tuple[str, ...] | None = None
    multiline: bool = False
    skip_bad_rows: bool = False
    allow_truncated_last_line: bool = False
    progress: bool = True
    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
