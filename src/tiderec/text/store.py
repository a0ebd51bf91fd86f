"""The item vector store: vectors.npy (float32[n, d]) + items.parquet (id, text hash, text) + manifest.json.

Row i of the vectors belongs to item_ids[i]. The manifest records the encoder, its version, the dimension,
whether rows are L2-normalised, and the text template with its hash, so that a store is self-describing
and an incremental run knows which vectors it may reuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tiderec.artefacts import read_manifest, writing
from tiderec.errors import DatasetError

KIND = "tiderec.item_vectors"


@dataclass(frozen=True)
class VectorSpace:
    """What produced the vectors: comparing two spaces says whether their vectors may be mixed."""

    encoder: str
    encoder_version: str
    dim: int
    normalized: bool
    template_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "encoder_version": self.encoder_version,
            "dim": self.dim,
            "normalized": self.normalized,
            "template_hash": self.template_hash,
        }


@dataclass(frozen=True)
class ItemVectors:
    """Language-model vectors of items: float32[n_items, dim], row order = `item_ids`; a zero row marks an
    item without any text."""

    item_ids: pl.Series
    vectors: np.ndarray
    text_hashes: pl.Series
    texts: pl.Series
    space: VectorSpace
    template: dict[str, Any]

    def __post_init__(self) -> None:
        n = self.item_ids.len()
        if self.vectors.shape != (n, self.space.dim) or self.vectors.dtype != np.float32:
            got = f"{self.vectors.shape} {self.vectors.dtype}"
            raise DatasetError(f"ItemVectors: vectors {got}, expected ({n}, {self.space.dim}) float32")
        if self.text_hashes.len() != n or self.texts.len() != n:
            raise DatasetError("ItemVectors: item_ids, text_hashes and texts must have the same length")

    def __len__(self) -> int:
        return self.item_ids.len()

    def aligned(self, item_ids: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """Vectors in the order of `item_ids` (e.g. a vocabulary): (float32[m, dim], bool[m] found)."""
        rows = self._rows(item_ids)
        found = rows.is_not_null().to_numpy()
        out = np.zeros((item_ids.len(), self.space.dim), dtype=np.float32)
        out[found] = self.vectors[rows.drop_nulls().to_numpy()]
        return out, found

    def aligned_texts(self, item_ids: pl.Series) -> list[str]:
        """The encoded texts in the order of `item_ids` ("" for items not in the store)."""
        rows = self._rows(item_ids)
        picked = self.texts.gather(rows.fill_null(0)).to_list() if len(self) else [""] * rows.len()
        return [text if ok else "" for text, ok in zip(picked, rows.is_not_null().to_list(), strict=True)]

    def _rows(self, item_ids: pl.Series) -> pl.Series:
        index = pl.DataFrame({"item_id": self.item_ids, "row": pl.int_range(len(self), eager=True)})
        return pl.DataFrame({"item_id": item_ids.cast(pl.String)}).join(
            index, on="item_id", how="left", maintain_order="left"
        )["row"]


def write_vectors(vectors: ItemVectors, out: Path) -> None:
    with writing(out, KIND, _fields(vectors)) as tmp:
        np.save(tmp / "vectors.npy", vectors.vectors, allow_pickle=False)
        _write_items(vectors, tmp)


def write_store(
    out: Path,
    store: Callable[[np.ndarray], ItemVectors],
    shape: tuple[int, int],
    fill: Callable[[np.ndarray], None],
) -> np.ndarray:
    """Write a store at `out` whose vectors float32[shape] are filled in place, in the file, by `fill` (it gets
    an np.memmap, so a catalogue of any size is written in flat memory); `store` wraps the vectors with the
    rest of the store. Returns the written vectors, mapped read-only."""
    fields: dict[str, Any] = {}
    with writing(out, KIND, fields) as tmp:
        target = np.lib.format.open_memmap(tmp / "vectors.npy", mode="w+", dtype=np.float32, shape=shape)
        whole = store(target)
        fields.update(_fields(whole))
        fill(target)
        target.flush()
        _write_items(whole, tmp)
        del target, whole
    vectors: np.ndarray = np.load(out / "vectors.npy", mmap_mode="r")
    return vectors


def _fields(vectors: ItemVectors) -> dict[str, Any]:
    """The manifest's fields (filled into `writing`'s dict, which it reads when the folder is complete)."""
    return {"space": vectors.space.to_dict(), "template": vectors.template, "count": len(vectors)}


def _write_items(vectors: ItemVectors, folder: Path) -> None:
    pl.DataFrame({"item_id": vectors.item_ids, "text_hash": vectors.text_hashes, "text": vectors.texts}).write_parquet(
        folder / "items.parquet"
    )


def read_vectors(folder: Path, mapped: bool = False) -> ItemVectors:
    """The store at `folder`; `mapped` maps the vectors read-only instead of reading them (for a large store
    that is only partly read, e.g. the previous store of an incremental encoding)."""
    manifest = read_manifest(folder, (KIND,))
    rows = pl.read_parquet(folder / "items.parquet")
    vectors = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r" if mapped else None)
    return ItemVectors(
        item_ids=rows["item_id"],
        vectors=vectors,
        text_hashes=rows["text_hash"],
        texts=rows["text"],
        space=VectorSpace(**manifest["space"]),
        template=manifest["template"],
    )
