"""One database interface over the embedded SQLite file (the default) and a PostgreSQL server.

SQL is written once with `?` placeholders, `{blob}` for binary columns and `{serial}` for an increasing integer
key; `Database` adapts them to the dialect. Statements outside `transaction()` commit on their own (autocommit on
both), so a caller never leaves work uncommitted by accident.

A database that cannot serve right now (PostgreSQL stopped or restarting, a full disk, an I/O error) raises
`StorageError` with the driver's reason in one line, and a transaction it broke is rolled back, so nothing of it
is committed. A lost PostgreSQL connection is opened again by a later call (after a failed try, the next one
waits RECONNECT_SECONDS; calls in between fail at once rather than wait on a server that is down), so a service
recovers by itself once its database is back.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Literal

from tiderec.errors import ConfigError, StorageError

Dialect = Literal["sqlite", "postgresql"]
BLOB = {"sqlite": "BLOB", "postgresql": "BYTEA"}
SERIAL = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "BIGSERIAL PRIMARY KEY"}
"""An integer primary key the database numbers on insert, increasing and never reused (not even after deletes)."""

RECONNECT_SECONDS = 0.5
"""After a failed try to open a lost PostgreSQL connection again, how long calls fail at once before the next."""

CONNECT_TIMEOUT_SECONDS = 2
"""How long opening a PostgreSQL connection may wait (libpq's connect_timeout; one in the URL wins)."""

SQLITE_TRANSIENT = {5: 1, 10: 5, 13: 5, 14: 5}
"""SQLite's primary result codes that mean "not now" rather than a bug (BUSY, IOERR, FULL, CANTOPEN), with the
Retry-After hint in seconds: a full disk or a failing device is not fixed within a second."""


def is_url(target: str | Path) -> bool:
    """Whether `target` names a PostgreSQL server (postgresql://...) rather than a SQLite file."""
    return str(target).startswith(("postgresql://", "postgres://"))


class Database:
    """A connection to `target`: a SQLite file path (WAL mode) or a postgresql:// URL (needs psycopg)."""

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        self.dialect: Dialect = "postgresql" if is_url(target) else "sqlite"
        self._depth = 0
        self._retry_at = 0.0
        self._conn: Any
        self._driver_errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
        if self.dialect == "postgresql":
            try:
                import psycopg
            except ImportError:
                raise ConfigError("a PostgreSQL database needs psycopg: pip install 'psycopg[binary]'") from None
            self._driver_errors = (psycopg.OperationalError, psycopg.InterfaceError)
            try:
                self._conn = self._connect()
            except psycopg.OperationalError as exc:
                raise ConfigError(f"cannot connect to {self.target}: {str(exc).strip()}") from None
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._writers = path.with_name(path.name + ".lock").open("a")

    def _connect(self) -> Any:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        target = self.target
        if "connect_timeout" not in conninfo_to_dict(target):
            target = make_conninfo(target, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        return psycopg.connect(target, autocommit=True)

    def _connection(self) -> Any:
        """The open connection. A lost PostgreSQL connection is opened again here, outside a transaction only (the
        rest of a transaction must not run on a new connection); a failed try is repeated after RECONNECT_SECONDS."""
        if self.dialect == "sqlite" or not self._conn.closed:
            return self._conn
        if self._depth:
            raise StorageError("the database connection was lost during a transaction; nothing of it was committed")
        now = time.monotonic()
        if now < self._retry_at:
            raise StorageError("the database is unreachable (reconnecting); retry shortly")
        try:
            self._conn = self._connect()
        except self._driver_errors as exc:
            self._retry_at = now + RECONNECT_SECONDS
            raise StorageError(f"the database is unreachable: {_first_line(exc)}") from exc
        return self._conn

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """The driver's errors that mean "the database cannot serve now" become StorageError; others (a bug, bad
        SQL) stay what they are."""
        try:
            yield
        except self._driver_errors as exc:
            if self.dialect == "postgresql":
                raise StorageError(f"the database is unavailable: {_first_line(exc)}") from exc
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code not in SQLITE_TRANSIENT:
                raise
            raise StorageError(f"the database cannot serve: {_first_line(exc)}", SQLITE_TRANSIENT[code]) from exc

    def _stale(self) -> bool:
        """Whether the last failure was a PostgreSQL connection found dead outside a transaction (a read may then
        be tried once more on a new connection: after a server restart, the first use of an old one fails)."""
        return self.dialect == "postgresql" and not self._depth and self._conn.closed

    def sql(self, statement: str) -> str:
        """`statement` in this dialect: placeholders and type names."""
        statement = statement.replace("{blob}", BLOB[self.dialect]).replace("{serial}", SERIAL[self.dialect])
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        with self._guarded():
            cursor = self._connection().execute(self.sql(statement), tuple(params))
            return int(cursor.rowcount)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._guarded():
                self._connection().cursor().executemany(self.sql(statement), [tuple(r) for r in rows])

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a SELECT (binary columns as bytes on both dialects); outside a transaction, a read that found
        its PostgreSQL connection dead is tried once more on a new one."""
        with self._guarded():
            try:
                rows = self._connection().execute(self.sql(statement), tuple(params)).fetchall()
            except self._driver_errors:
                if not self._stale():
                    raise
                rows = self._connection().execute(self.sql(statement), tuple(params)).fetchall()
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[None]:
        """Statements inside commit together, or not at all. `write` takes SQLite's write lock at the start
        (BEGIN IMMEDIATE), so a read-modify-write inside cannot interleave with another process's; a transaction
        opened inside another joins it. SQLite transactions of several processes queue on a lock file beside the
        database (FILE.lock), which hands over the moment it is released: SQLite's own busy wait sleeps in growing
        steps (measured: ingest p99 973 ms with two worker processes). A failed COMMIT (a full disk) is rolled
        back too, so the connection is never left inside a transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if self.dialect == "postgresql":
            with self._guarded(), ExitStack() as stack:
                tx = self._begin(stack)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
            if tx.status != tx.Status.COMMITTED:  # psycopg ends a transaction on a lost connection silently
                raise StorageError("the database connection was lost before the commit; nothing was committed")
            return
        conn = self._connection()
        self._depth = 1
        try:
            fcntl.flock(self._writers, fcntl.LOCK_EX)
            try:
                with self._guarded():
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        yield
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
            finally:
                fcntl.flock(self._writers, fcntl.LOCK_UN)
        finally:
            self._depth = 0

    def _begin(self, stack: ExitStack) -> Any:
        """A PostgreSQL transaction entered on `stack`. A connection found dead at BEGIN (a server restarted since
        its last use; nothing of the transaction was sent) is replaced once."""
        try:
            return stack.enter_context(self._connection().transaction())
        except self._driver_errors:
            if not self._conn.closed:
                raise
            return stack.enter_context(self._connection().transaction())

    def close(self) -> None:
        self._conn.close()
        if self.dialect == "sqlite":
            self._writers.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
