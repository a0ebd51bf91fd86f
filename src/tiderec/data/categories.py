"""Items' leaf categories as integer codes, for category-level signals (exploration rewards, interest drift)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tiderec.types import Items


@dataclass(frozen=True)
class ItemCategories:
    """codes int64[n_items] in catalogue row order (-1: no category); names[c] is code c's category."""

    codes: np.ndarray
    names: list[str]

    @classmethod
    def of(cls, items: Items) -> ItemCategories:
        """The last element of each item's category path (the leaf)."""
        leaf = items.frame["category"].list.last() if items.frame.height else pl.Series([], dtype=pl.String)
        names = sorted(leaf.drop_nulls().unique().to_list())
        index = {name: i for i, name in enumerate(names)}
        codes = np.array([-1 if v is None else index[v] for v in leaf.to_list()], dtype=np.int64)
        return cls(codes, names)
