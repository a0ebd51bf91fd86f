"""`Interactions`: cleaned item events as dense indices, grouped by user in time order (CSR layout).

This is what models and splits consume: per user a contiguous slice `offsets[u]:offsets[u+1]` of the
arrays, ordered by time (ties keep the order of the cleaned events).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tiderec.clean.vocab import Vocabulary
from tiderec.errors import DatasetError
from tiderec.types import Events


@dataclass(frozen=True)
class Interactions:
    """Parallel arrays of length n (user-major, time-ordered) plus CSR offsets of length n_users + 1.

    user, item: int64 indices into `user_vocab` / `item_vocab`; ts: int64 microseconds since the epoch
    (UTC); event_type: int8 index into EVENT_TYPES; value: float32 (NaN where absent).
    """

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    event_type: np.ndarray
    value: np.ndarray
    offsets: np.ndarray
    user_vocab: Vocabulary
    item_vocab: Vocabulary

    def __post_init__(self) -> None:
        n = self.user.shape[0]
        for name in ("item", "ts", "event_type", "value"):
            if getattr(self, name).shape != (n,):
                raise DatasetError(f"Interactions: {name} has shape {getattr(self, name).shape}, expected ({n},)")
        if self.offsets.shape != (len(self.user_vocab) + 1,) or self.offsets[-1] != n:
            raise DatasetError("Interactions: offsets do not match the user vocabulary and the row count")

    @classmethod
    def from_events(
        cls, events: Events, user_vocab: Vocabulary | None = None, item_vocab: Vocabulary | None = None
    ) -> Interactions:
        """Index item events (item-less search events are left out); ids missing from a vocabulary raise."""
        frame = events.frame.filter(pl.col("item_id").is_not_null())
        for column in ("user_id", "ts", "event_type"):
            if frame[column].null_count():
                raise DatasetError(f"Interactions: {column} has missing values; clean the events first")
        users = user_vocab or Vocabulary.from_ids(frame["user_id"])
        items = item_vocab or Vocabulary.from_ids(frame["item_id"])
        indexed = frame.select(
            users.encode(frame["user_id"]).alias("user"),
            items.encode(frame["item_id"]).alias("item"),
            pl.col("ts").dt.epoch("us").alias("ts"),
            pl.col("event_type").to_physical().cast(pl.Int8).alias("event_type"),
            pl.col("value").cast(pl.Float32).fill_null(float("nan")).alias("value"),
        ).with_row_index("_order")
        for column, vocab in (("user", "user_vocab"), ("item", "item_vocab")):
            unknown = indexed[column].null_count()
            if unknown:
                raise DatasetError(f"Interactions: {unknown} events have ids missing from the {vocab}")
        indexed = indexed.sort("user", "ts", "_order")
        user = indexed["user"].to_numpy()
        counts = np.bincount(user, minlength=len(users))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(
            user=user.astype(np.int64),
            item=indexed["item"].to_numpy().astype(np.int64),
            ts=indexed["ts"].to_numpy().astype(np.int64),
            event_type=indexed["event_type"].to_numpy().astype(np.int8),
            value=indexed["value"].to_numpy().astype(np.float32),
            offsets=offsets,
            user_vocab=users,
            item_vocab=items,
        )

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def n_users(self) -> int:
        return len(self.user_vocab)

    @property
    def n_items(self) -> int:
        return len(self.item_vocab)

    def lengths(self) -> np.ndarray:
        """int64[n_users]: number of events per user."""
        return np.diff(self.offsets)

    def items_of(self, user: int) -> np.ndarray:
        """The item indices of one user's events, in time order."""
        return self.item[self.offsets[user] : self.offsets[user + 1]]

    def take(self, mask: np.ndarray) -> Interactions:
        """The rows where `mask` (bool[n]) is true, same vocabularies (users may end up with no events)."""
        if mask.shape != self.user.shape:
            raise DatasetError(f"Interactions.take: mask has shape {mask.shape}, expected {self.user.shape}")
        user = self.user[mask]
        counts = np.bincount(user, minlength=self.n_users)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Interactions(
            user,
            self.item[mask],
            self.ts[mask],
            self.event_type[mask],
            self.value[mask],
            offsets,
            self.user_vocab,
            self.item_vocab,
        )
