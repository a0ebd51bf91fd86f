"""Small synthetic behaviour logs with a known structure, for tests and examples of the training stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from tiderec.types import Events

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def cyclic_world(n_users: int = 60, n_items: int = 30, length: int = 12, seed: int = 0) -> Events:
    """Each user walks a cycle over items from a random start (the next item is the current one + 1 mod
    n_items, sometimes + 2), one event an hour, so the next item is predictable from the last."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        item = int(rng.integers(n_items))
        for k in range(length):
            rows.append((f"u{u}", f"i{item}", T0 + timedelta(days=u, hours=k), "purchase" if k % 5 == 4 else "view"))
            item = (item + (2 if rng.random() < 0.1 else 1)) % n_items
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "ts", "event_type"], orient="row")
    return Events.from_frame(frame, {"source": "cyclic-world", "time": "event"})
