"""The database interface under faults: a lost PostgreSQL connection is replaced for a read or a new transaction
(never inside a transaction, never for a lone write whose fate is unknown), errors that mean "not now" become
StorageError, and a bug in the SQL stays the driver's error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tiderec.errors import StorageError
from tiderec.storage import Database


def test_bad_sql_is_not_taken_for_an_outage(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.sqlite")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.query("SELECT * FROM missing")
    with pytest.raises(sqlite3.OperationalError, match="no such table"), db.transaction(write=True):
        db.execute("INSERT INTO missing VALUES (1)")
    db.execute("CREATE TABLE t (x INTEGER)")
    with db.transaction(write=True):
        db.execute("INSERT INTO t VALUES (1)")
    assert db.query("SELECT x FROM t") == [(1,)]


def _cut(db: Database, url: str) -> None:
    """Terminate `db`'s server process from another connection, as a database restart would."""
    (pid,) = db.query("SELECT pg_backend_pid()")[0]
    other = Database(url)
    assert other.query("SELECT pg_terminate_backend(?)", (pid,)) == [(True,)]
    other.close()


def _cut_in_a_transaction(db: Database, url: str) -> None:
    """A transaction whose connection is cut after its first statement: the next statement fails, the one after
    it is refused (a new connection would run it outside the transaction), and leaving it raises."""
    with db.transaction():
        db.execute("INSERT INTO storage_faults VALUES (3)")
        _cut(db, url)
        with pytest.raises(StorageError):
            db.execute("INSERT INTO storage_faults VALUES (4)")
        with pytest.raises(StorageError, match="during a transaction"):
            db.execute("INSERT INTO storage_faults VALUES (5)")


@pytest.mark.postgres
def test_a_lost_postgres_connection_is_replaced_outside_transactions_only(postgres_url: str) -> None:
    db = Database(postgres_url)
    db.execute("CREATE TABLE IF NOT EXISTS storage_faults (x INTEGER)")
    db.execute("DELETE FROM storage_faults")
    _cut(db, postgres_url)
    assert db.query("SELECT COUNT(*) FROM storage_faults") == [(0,)]

    _cut(db, postgres_url)
    with db.transaction():
        db.execute("INSERT INTO storage_faults VALUES (1)")
    _cut(db, postgres_url)
    with pytest.raises(StorageError, match="database"):
        db.execute("INSERT INTO storage_faults VALUES (2)")
    db.execute("INSERT INTO storage_faults VALUES (2)")

    with pytest.raises(StorageError, match="nothing was committed"):
        _cut_in_a_transaction(db, postgres_url)
    assert db.query("SELECT x FROM storage_faults ORDER BY x") == [(1,), (2,)], "a transaction cut midway left rows"
    db.execute("DROP TABLE storage_faults")
    db.close()
