"""Where interest states are committed: the `StateStore` interface and its SQL form (SQLite file or PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from tiderec.interest.codec import decode, encode
from tiderec.interest.state import InterestState
from tiderec.storage import Database


class StateStore(Protocol):
    """get/put/delete one user's state; put_many commits several in one transaction; inside `locked(users)` a
    read-modify-write of those users cannot interleave with another process's, and rows a caller writes to `db`
    there commit with the states, or not at all."""

    db: Database

    def get(self, user_id: str) -> InterestState | None: ...

    def payload(self, user_id: str) -> bytes | None: ...

    def payloads(self, user_ids: Iterable[str]) -> dict[str, bytes]: ...

    def locked(self, user_ids: Iterable[str]) -> AbstractContextManager[None]: ...

    def put(self, state: InterestState) -> None: ...

    def put_many(self, states: Iterable[InterestState]) -> dict[str, bytes]: ...

    def delete(self, user_id: str) -> bool: ...

    def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS interest_state (
    user_id TEXT PRIMARY KEY,
    updated_us BIGINT NOT NULL,
    n_events INTEGER NOT NULL,
    payload {blob} NOT NULL
)
"""


class SQLStateStore:
    """One row per user in a `Database`: the embedded SQLite file (WAL mode: readers do not block the writer)
    or PostgreSQL; each put commits."""

    def __init__(self, target: str | Path | Database) -> None:
        self.db = target if isinstance(target, Database) else Database(target)
        self.db.execute(SCHEMA)

    def get(self, user_id: str) -> InterestState | None:
        raw = self.payload(user_id)
        return None if raw is None else decode(raw)

    def payload(self, user_id: str) -> bytes | None:
        """The user's committed state as stored (compare two reads to tell whether anyone committed between)."""
        rows = self.db.query("SELECT payload FROM interest_state WHERE user_id = ?", (user_id,))
        return bytes(rows[0][0]) if rows else None

    def payloads(self, user_ids: Iterable[str]) -> dict[str, bytes]:
        """The committed states of several users in one query (users without a state are absent)."""
        wanted = list(dict.fromkeys(user_ids))
        out: dict[str, bytes] = {}
        for at in range(0, len(wanted), 500):
            part = wanted[at : at + 500]
            marks = ", ".join("?" * len(part))
            rows = self.db.query(f"SELECT user_id, payload FROM interest_state WHERE user_id IN ({marks})", tuple(part))
            out.update((str(user), bytes(raw)) for user, raw in rows)
        return out

    @contextmanager
    def locked(self, user_ids: Iterable[str]) -> Iterator[None]:
        """One write transaction holding these users: SQLite's database write lock, PostgreSQL's per-user advisory
        locks (taken in sorted order, so two batches never wait on each other in a cycle)."""
        with self.db.transaction(write=True):
            if self.db.dialect == "postgresql":
                for user in sorted(set(user_ids)):
                    self.db.query("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (user,))
            yield

    def put(self, state: InterestState) -> None:
        self.put_many((state,))

    def put_many(self, states: Iterable[InterestState]) -> dict[str, bytes]:
        """Stores the states (one transaction) and returns the payloads written, by user."""
        now = time.time_ns() // 1000
        rows = [(s.user_id, now, s.n_events, encode(s)) for s in states]
        with self.db.transaction():
            self.db.executemany(
                "INSERT INTO interest_state (user_id, updated_us, n_events, payload) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET updated_us = excluded.updated_us, "
                "n_events = excluded.n_events, payload = excluded.payload",
                rows,
            )
        return {user: payload for user, _, _, payload in rows}

    def delete(self, user_id: str) -> bool:
        return self.db.execute("DELETE FROM interest_state WHERE user_id = ?", (user_id,)) > 0

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM interest_state")[0][0])

    def close(self) -> None:
        self.db.close()
