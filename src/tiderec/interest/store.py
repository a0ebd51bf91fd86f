"""Where interest states are committed: the `StateStore` interface and its embedded SQLite (WAL) form."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from tiderec.interest.codec import decode, encode
from tiderec.interest.state import InterestState


class StateStore(Protocol):
    """get/put/delete one user's state; put_many commits several in one transaction."""

    def get(self, user_id: str) -> InterestState | None: ...

    def put(self, state: InterestState) -> None: ...

    def put_many(self, states: Iterable[InterestState]) -> None: ...

    def delete(self, user_id: str) -> bool: ...

    def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS interest_state (
    user_id TEXT PRIMARY KEY,
    updated_us INTEGER NOT NULL,
    n_events INTEGER NOT NULL,
    payload BLOB NOT NULL
)
"""


class SQLiteStateStore:
    """One row per user in a SQLite file in WAL mode (readers do not block the writer); each put commits."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        self._db.commit()

    def get(self, user_id: str) -> InterestState | None:
        row = self._db.execute("SELECT payload FROM interest_state WHERE user_id = ?", (user_id,)).fetchone()
        return None if row is None else decode(row[0])

    def put(self, state: InterestState) -> None:
        self.put_many((state,))

    def put_many(self, states: Iterable[InterestState]) -> None:
        now = time.time_ns() // 1000
        rows = [(s.user_id, now, s.n_events, encode(s)) for s in states]
        with self._db:
            self._db.executemany(
                "INSERT INTO interest_state (user_id, updated_us, n_events, payload) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET updated_us = excluded.updated_us, "
                "n_events = excluded.n_events, payload = excluded.payload",
                rows,
            )

    def delete(self, user_id: str) -> bool:
        with self._db:
            cursor = self._db.execute("DELETE FROM interest_state WHERE user_id = ?", (user_id,))
        return cursor.rowcount > 0

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM interest_state").fetchone()[0])

    def close(self) -> None:
        self._db.close()
