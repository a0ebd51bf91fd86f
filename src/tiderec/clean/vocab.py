"""Raw id <-> dense index (0..n-1), persisted beside every artefact that uses indices."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tiderec.errors import DatasetError

INDEX_DTYPE = pl.Int64


@dataclass(frozen=True)
class Vocabulary:
    """An ordered set of raw ids; the position of an id is its index. New ids are only ever appended."""

    ids: pl.Series
    _lookup: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _names: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.ids.dtype != pl.String:
            raise DatasetError(f"Vocabulary ids must be strings, got {self.ids.dtype}")
        if self.ids.null_count() or self.ids.n_unique() != self.ids.len():
            raise DatasetError("Vocabulary ids must be unique and not null")

    @classmethod
    def from_ids(cls, ids: pl.Series) -> Vocabulary:
        """Distinct non-null ids in order of first appearance."""
        return cls(ids.cast(pl.String).drop_nulls().unique(maintain_order=True).rename("id"))

    def __len__(self) -> int:
        return self.ids.len()

    def encode(self, raw: pl.Series) -> pl.Series:
        """Index of each raw id (null where unknown), same length and order as `raw`."""
        table = pl.DataFrame({"id": self.ids, "index": pl.int_range(len(self), dtype=INDEX_DTYPE, eager=True)})
        left = pl.DataFrame({"id": raw.cast(pl.String)})
        return left.join(table, on="id", how="left", maintain_order="left")["index"].alias(raw.name)

    def decode(self, index: pl.Series) -> pl.Series:
        """Raw id of each index; an index outside 0..len-1 raises DatasetError."""
        bad = index.filter((index < 0) | (index >= len(self)))
        if bad.len():
            raise DatasetError(f"Vocabulary.decode: index {bad[0]} outside 0..{len(self) - 1}")
        return self.ids.gather(index.cast(INDEX_DTYPE)).alias(index.name)

    def index_of(self, raw_id: str) -> int | None:
        """One id's index, via a dict built on first use (for online lookups)."""
        if not self._lookup and len(self):
            self._lookup.update(zip(self.ids.to_list(), range(len(self)), strict=True))
        return self._lookup.get(raw_id)

    def id_of(self, index: int) -> str:
        """One index's id, via a list built on first use (online answers name their items one by one, and
        indexing a polars Series costs microseconds per item)."""
        if not self._names and len(self):
            self._names.extend(self.ids.to_list())
        return self._names[index]

    def extend(self, raw: pl.Series) -> Vocabulary:
        """A new vocabulary with unseen ids appended (existing indices unchanged)."""
        new = raw.cast(pl.String).drop_nulls().unique(maintain_order=True)
        new = new.filter(~new.is_in(self.ids.implode()))
        return Vocabulary(pl.concat([self.ids, new.rename("id")]))

    def write(self, path: Path) -> None:
        pl.DataFrame({"id": self.ids}).write_parquet(path)

    @classmethod
    def read(cls, path: Path) -> Vocabulary:
        if not path.is_file():
            raise DatasetError(f"{path}: no such vocabulary file")
        return cls(pl.read_parquet(path)["id"])
