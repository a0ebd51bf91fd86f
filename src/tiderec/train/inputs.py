"""Item side inputs for the models, aligned to the item vocabulary: language-model vectors and attribute ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tiderec.clean.vocab import Vocabulary
from tiderec.errors import DatasetError
from tiderec.text.store import ItemVectors
from tiderec.types import Items


@dataclass(frozen=True)
class ItemInputs:
    """vectors: float32[N, d] (zero rows: no text) or None; attributes: int64[N, A] ids + 1 (0 = pad) or None;
    texts: the N texts the vectors were encoded from ("" where none), for models that re-encode them."""

    vectors: np.ndarray | None
    attributes: np.ndarray | None
    n_attributes: int
    text_space: dict[str, object] | None = None
    texts: list[str] | None = None

    @property
    def text_coverage(self) -> float:
        """Share of items that have a non-zero text vector."""
        if self.vectors is None or self.vectors.shape[0] == 0:
            return 0.0
        return float((np.abs(self.vectors).sum(axis=1) > 0).mean())


def item_inputs(
    vocab: Vocabulary, items: Items | None, vectors: ItemVectors | None, max_attributes: int = 8
) -> ItemInputs:
    """Align text vectors and attribute lists to `vocab` (missing items get zeros / no attributes)."""
    text = None
    space = None
    texts = None
    if vectors is not None:
        text, found = vectors.aligned(vocab.ids)
        if not found.any():
            raise DatasetError("the vector store shares no item id with the dataset; encode this dataset's items")
        space = vectors.space.to_dict()
        texts = vectors.aligned_texts(vocab.ids)
    attributes, n_attr = None, 0
    if items is not None and items.frame["attributes"].drop_nulls().len():
        frame = pl.DataFrame({"item_id": vocab.ids}).join(
            items.frame.select("item_id", "attributes"), on="item_id", how="left", maintain_order="left"
        )
        lists = [a if a is not None else [] for a in frame["attributes"].to_list()]
        attr_vocab = Vocabulary.from_ids(pl.Series([a for row in lists for a in row], dtype=pl.String))
        n_attr = len(attr_vocab)
        attributes = np.zeros((len(vocab), max_attributes), dtype=np.int64)
        for i, row in enumerate(lists):
            ids = [attr_vocab.index_of(a) for a in row[:max_attributes]]
            attributes[i, : len(ids)] = [x + 1 for x in ids if x is not None]
    return ItemInputs(text, attributes, n_attr, space, texts)
