"""Popularity baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

import numpy as np

from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays


class Popularity:
    name = "pop"

    def __init__(self, train: Interactions) -> None:
        self.n_items = train.n_items
        counts = np.bincount(train.item, minlength=train.n_items).astype(np.float32)
        self._scores = counts

    def score(self, arrays: SequenceArrays) -> np.ndarray:
        return np.broadcast_to(self._scores, (len(arrays), self.n_items)).copy()
