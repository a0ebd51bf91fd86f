"""kill -9 of a running `tiderec serve` during ingest: after a restart every acknowledged event is in the state."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import fresh_postgres, write_shop
from tiderec.serving.keys import KeyStore
from tiderec.serving.service import server_secret
from tiderec.storage import Database
from tiderec.testing.server import free_port, start_server


def _start(root: Path, port: int, db: str) -> subprocess.Popen[bytes]:
    args = ["--data", str(root / "cleaned"), "--db", db, "--secret-dir", str(root / "db"), "--no-query"]
    return start_server(args, port)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_acknowledged_events_survive_kill_9(tmp_path: Path, database: str, request: pytest.FixtureRequest) -> None:
    write_shop(tmp_path)
    (tmp_path / "db").mkdir()
    db = str(tmp_path / "db" / "t.sqlite")
    if database == "postgres":
        db = fresh_postgres(request.getfixturevalue("postgres_url"))
    key = KeyStore(Database(db), server_secret(tmp_path / "db")).create("load", ["ingest", "read"])
    port = free_port()
    proc = _start(tmp_path, port, db)
    acknowledged: dict[str, int] = {}
    stop = threading.Event()

    def load() -> None:
        n = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=5) as client:
            while not stop.is_set():
                batch = [{"user_id": f"u{n % 7}", "item_id": f"i{(n + j) % 5}", "ts": 1_700_000_000 + n * 10 + j}
                         for j in range(5)]  # fmt: skip
                try:
                    response = client.post("/v1/events", json={"events": batch})
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    user = batch[0]["user_id"]
                    acknowledged[str(user)] = acknowledged.get(str(user), 0) + 5
                n += 1

    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(2.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    worker.join()
    assert sum(acknowledged.values()) > 0
    proc = _start(tmp_path, port, db)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}) as client:
            for user, count in acknowledged.items():
                state = client.get(f"/v1/users/{user}/interests").json()
                assert state["events"] >= count, (user, state["events"], count)
    finally:
        proc.kill()
        proc.wait()
