"""The typed objects every stage exchanges: `Events` (behaviour log), `Items` (catalogue), `ItemList` (a served list).

The tables wrap an Arrow-backed polars DataFrame with a fixed schema, validated on construction, plus string
metadata (source, time semantics) that travels with the table into Parquet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Self, get_args

import numpy as np
import polars as pl
import pyarrow as pa

from tiderec.errors import DatasetError, RequestError

EventType = Literal["view", "click", "cart", "fav", "purchase", "review", "search"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
EVENT_TYPE_DTYPE = pl.Enum(EVENT_TYPES)
TS_DTYPE = pl.Datetime("us", "UTC")
MINUTE_US = 60 * 1_000_000
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
"""Microseconds per minute, hour and day: timestamps are int64 microseconds since the epoch (UTC)."""

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "item_id": pl.String(),
    "ts": TS_DTYPE,
    "event_type": EVENT_TYPE_DTYPE,
    "value": pl.Float64(),
    "session_id": pl.String(),
    "basket_id": pl.String(),
    "text": pl.String(),
}
"""Column -> dtype of `Events`. user_id, ts and event_type are required; item_id may be null only for
search events; value holds quantity, rating or price; basket_id is a source order/invoice id; session_id
is assigned by sessionisation (or given by the source); text holds review or query text."""

EVENT_REQUIRED: tuple[str, ...] = ("user_id", "item_id", "ts", "event_type")

ITEM_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "title": pl.String(),
    "description": pl.String(),
    "category": pl.List(pl.String()),
    "brand": pl.String(),
    "price": pl.Float64(),
    "language": pl.String(),
    "attributes": pl.List(pl.String()),
}
"""Column -> dtype of `Items`. category is a path from root to leaf; attributes are free tags or ids
(e.g. Amazon attribute ids, MovieLens genres); language is an ISO 639-1 code or 'und'."""

ITEM_REQUIRED: tuple[str, ...] = ("item_id",)


def conform(
    frame: pl.DataFrame, schema: Mapping[str, pl.DataType], required: tuple[str, ...], what: str
) -> pl.DataFrame:
    """Return `frame` with exactly `schema`'s columns in order: optional ones added as nulls, all cast.

    Raises DatasetError naming the missing required columns, unknown columns or a failed cast.
    """
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DatasetError(f"{what}: missing required column(s) {missing}; columns present: {frame.columns}")
    unknown = [c for c in frame.columns if c not in schema]
    if unknown:
        raise DatasetError(f"{what}: unknown column(s) {unknown}; expected a subset of {list(schema)}")
    exprs = []
    for name, dtype in schema.items():
        if name in frame.columns:
            exprs.append(pl.col(name).cast(dtype, strict=True))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    try:
        return frame.select(exprs)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        first = str(exc).splitlines()[0]
        raise DatasetError(f"{what}: a column has the wrong type: {first}") from exc


def _check_schema(frame: pl.DataFrame, schema: Mapping[str, pl.DataType], what: str) -> None:
    got = dict(frame.schema)
    if list(got) != list(schema) or any(got[k] != v for k, v in schema.items()):
        raise DatasetError(f"{what}: schema {got} differs from {dict(schema)}; build it with {what}.from_frame")


@dataclass(frozen=True)
class _Table:
    """Shared behaviour of the schema-checked tables: validation, size, Arrow and Parquet I/O."""

    SCHEMA: ClassVar[dict[str, pl.DataType]]
    REQUIRED: ClassVar[tuple[str, ...]]
    frame: pl.DataFrame
    meta: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_schema(self.frame, self.SCHEMA, type(self).__name__)

    def __len__(self) -> int:
        return self.frame.height

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, meta: Mapping[str, str] | None = None) -> Self:
        """Conform a frame holding at least the required columns (others added as nulls)."""
        return cls(conform(frame, cls.SCHEMA, cls.REQUIRED, cls.__name__), dict(meta or {}))

    @classmethod
    def empty(cls, meta: Mapping[str, str] | None = None) -> Self:
        return cls(pl.DataFrame(schema=cls.SCHEMA), dict(meta or {}))

    def to_arrow(self) -> pa.Table:
        return self.frame.to_arrow()

    def write_parquet(self, path: Path) -> None:
        self.frame.write_parquet(path, metadata=dict(self.meta))

    @classmethod
    def read_parquet(cls, path: Path) -> Self:
        if not path.is_file():
            raise DatasetError(f"{path}: no such {cls.__name__} file")
        meta = pl.read_parquet_metadata(path)
        return cls.from_frame(pl.read_parquet(path), {k: v for k, v in meta.items() if not k.startswith("ARROW:")})


@dataclass(frozen=True)
class Events(_Table):
    """A behaviour log: one row per event, schema `EVENT_SCHEMA`, in the order it was built (usually time)."""

    SCHEMA: ClassVar[dict[str, pl.DataType]] = EVENT_SCHEMA
    REQUIRED: ClassVar[tuple[str, ...]] = EVENT_REQUIRED

    def with_frame(self, frame: pl.DataFrame) -> Events:
        """Same metadata, new rows (the frame must already have the Events schema)."""
        return Events(frame, self.meta)


@dataclass(frozen=True)
class Items(_Table):
    """An item catalogue: one row per item id, schema `ITEM_SCHEMA`."""

    SCHEMA: ClassVar[dict[str, pl.DataType]] = ITEM_SCHEMA
    REQUIRED: ClassVar[tuple[str, ...]] = ITEM_REQUIRED

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frame.height and self.frame["item_id"].null_count():
            raise DatasetError("Items: item_id must not be null")
        if self.frame["item_id"].n_unique() != self.frame.height:
            dup = self.frame.filter(pl.col("item_id").is_duplicated())["item_id"].head(3).to_list()
            raise DatasetError(f"Items: item_id must be unique; duplicated e.g. {dup}")


@dataclass(frozen=True)
class ItemList:
    """A served list in rank order: item indices, the model's scores, the probability that the policy put each
    item at its position (its propensity, for off-policy evaluation), whether exploration placed it there (not
    in the greedy top-k), and the policy version and seed that replay it exactly."""

    items: np.ndarray
    scores: np.ndarray
    propensities: np.ndarray
    explored: np.ndarray
    policy: str
    seed: int

    def __post_init__(self) -> None:
        k = len(self.items)
        for name in ("scores", "propensities", "explored"):
            if len(getattr(self, name)) != k:
                raise RequestError(f"ItemList: {name} has {len(getattr(self, name))} entries, expected {k}")
        if k and not bool(np.all((self.propensities > 0) & (self.propensities <= 1))):
            raise RequestError("ItemList: propensities must lie in (0, 1]")

    def __len__(self) -> int:
        return len(self.items)
