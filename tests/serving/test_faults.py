"""Operations under faults, against a real `tiderec serve` with two worker processes: SIGTERM during load, model
folders broken by a retraining job, a full disk under SQLite, PostgreSQL stopped and started under load. Each
ends with every acknowledged event in its user's state and a service that recovered by itself."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.conftest import PostgresCluster
from tests.serving.conftest import train_shop_model, write_shop
from tiderec.interest.store import SQLStateStore
from tiderec.serving.keys import KeyStore, pseudonym
from tiderec.serving.service import server_secret
from tiderec.storage import RECONNECT_SECONDS, Database
from tiderec.testing.server import free_port, start_server
from tiderec.train.checkpoint import ITEM_VOCAB, weights_version
from tiderec.train.experiment import prepare, save_trained, train_model

REQUEST_TIMEOUT = 10.0
"""The clients' request timeout: no request may hang past it, whatever the fault."""


def _key(db: str, secrets: Path) -> str:
    database = Database(db)
    key = KeyStore(database, server_secret(secrets)).create("ops", ["admin"])
    database.close()
    return key


def _serve(cleaned: Path, db: str, secrets: Path, port: int, *extra: str, prefix: tuple[str, ...] = ()) -> Server:
    """`tiderec serve` on the shop, with two workers unless `extra` says otherwise."""
    workers = [] if "--workers" in extra else ["--workers", "2"]
    args = ["--data", str(cleaned), "--db", db, "--secret-dir", str(secrets), "--no-query", *workers, *extra]
    return Server(start_server(args, port, prefix=prefix), port)


@dataclass
class Server:
    """A running `tiderec serve` and clients for it."""

    proc: subprocess.Popen[bytes]
    port: int

    def client(self, key: str) -> httpx.Client:
        base = f"http://127.0.0.1:{self.port}"
        return httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=REQUEST_TIMEOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(60)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; any still running at its end are killed."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _batch(user: str, n: int, start: int) -> dict[str, list[dict[str, object]]]:
    return {"events": [{"user_id": user, "item_id": f"i{(start + j) % 30}", "ts": 1_700_000_000 + start + j}
                       for j in range(n)]}  # fmt: skip


def _events(client: httpx.Client, user: str) -> int:
    answer = client.get(f"/v1/users/{user}/interests")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["events"])


@dataclass
class Load:
    """Client threads posting event batches (each thread its own users) and reading lists until stopped; every
    answer is recorded, and the events of every acknowledged batch are counted per user."""

    server: Server
    key: str
    threads: int = 3
    acknowledged: Counter[str] = field(default_factory=Counter)
    answers: list[tuple[float, str, int | str, str | None, str]] = field(default_factory=list)
    """(when, route, status or the client error's name, Retry-After, body) of every request."""
    stop_on_error: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._run, args=(t,)) for t in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join()

    def since(self, moment: float, route: str | None = None) -> list[tuple[float, str, int | str, str | None, str]]:
        return [a for a in self.answers if a[0] >= moment and (route is None or a[1] == route)]

    def _run(self, thread: int) -> None:
        n = 0
        client = self.server.client(self.key)
        while not self._stop.is_set():
            user = f"load{thread}-{n % 5}"
            try:
                if n % 2:
                    route, answer = "read", client.get(f"/v1/users/{user}/recommendations", params={"k": 5})
                else:
                    route, answer = "events", client.post("/v1/events", json=_batch(user, 4, 1000 * n + thread))
            except httpx.TimeoutException as exc:
                self.answers.append((time.monotonic(), "?", type(exc).__name__, None, ""))
                n += 1
                continue
            except httpx.HTTPError as exc:
                self.answers.append((time.monotonic(), "?", type(exc).__name__, None, ""))
                if self.stop_on_error:
                    return
                client.close()
                client = self.server.client(self.key)
                time.sleep(0.05)
                n += 1
                continue
            self.answers.append((time.monotonic(), route, answer.status_code, answer.headers.get("retry-after"),
                                 answer.text[:300]))  # fmt: skip
            if route == "events" and answer.status_code == 200:
                self.acknowledged[user] += 4
            if answer.status_code != 200:
                time.sleep(0.02)  # a short backoff, as a client under 503s would
            n += 1
        client.close()


def _wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.05)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0(
    tmp_path: Path, servers: list[Server], workers: str
) -> None:
    cleaned = write_shop(tmp_path)
    db = str(tmp_path / "db" / "t.sqlite")
    key = _key(db, tmp_path / "db")
    server = _serve(cleaned, db, tmp_path / "db", free_port(), "--workers", workers)
    servers.append(server)
    load = Load(server, key, stop_on_error=True)
    load.start()
    _wait_for(lambda: sum(load.acknowledged.values()) >= 40, 60, "some events acknowledged before SIGTERM")

    head_sent, release = threading.Event(), threading.Event()
    inflight: dict[str, httpx.Response] = {}
    body = b'{"events": [' + b",".join(
        b'{"user_id": "inflight", "item_id": "i%d", "ts": %d}' % (k, 1_700_000_000 + k) for k in range(12)
    )

    def slow_body() -> Iterator[bytes]:
        yield body[:40]
        head_sent.set()
        release.wait(60)
        yield body[40:] + b"]}"

    def post_slowly() -> None:
        with server.client(key) as client:
            headers = {"content-type": "application/json"}
            inflight["answer"] = client.post("/v1/events", content=slow_body(), headers=headers)

    sender = threading.Thread(target=post_slowly)
    sender.start()
    assert head_sent.wait(30)
    time.sleep(0.5)  # the request's head and first bytes reach a worker, which starts reading its body

    os.kill(server.proc.pid, signal.SIGTERM)
    _wait_for(lambda: _refused(server.port), 30, "new connections refused after SIGTERM")
    assert sender.is_alive(), "the request in flight was answered before its body was complete"
    release.set()
    sender.join(60)
    answer = inflight["answer"]
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 12
    assert server.proc.wait(60) == 0
    load.stop()
    assert sum(load.acknowledged.values()) >= 40

    store, secret = SQLStateStore(db), server_secret(tmp_path / "db")
    assert _stored(store, secret, "inflight") == 12
    for user, count in load.acknowledged.items():
        assert _stored(store, secret, user) >= count, user


def _stored(store: SQLStateStore, secret: bytes, user: str) -> int:
    """The user's event count in the database, read directly (the server has exited)."""
    state = store.get(pseudonym(secret, user))
    return 0 if state is None else state.n_events


def _train_other_width(cleaned: Path, out: Path) -> None:
    """The shop's model at width 32 (the served one has 16): weights that do not fit the served manifest."""
    from tiderec.train.config import TrainConfig

    prepared = prepare(cleaned)
    config = TrainConfig(epochs=1, batch_size=32, max_len=8, seed=3, threads=1, warmup_steps=2)
    save_trained(out, prepared, train_model(prepared, "tiderec", config, {"dim": 32}, progress=False), {})


def _break(folder: Path, how: str, spare: Path) -> str:
    """Damage the served model folder as a failed retraining job or copy would; returns what the error must
    name."""
    weights = folder / "model.safetensors"
    if how == "corrupted":
        raw = bytearray(weights.read_bytes())
        raw[:64] = os.urandom(64)
        weights.write_bytes(bytes(raw))
        return "does not load"
    if how == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        return "does not load"
    if how == "other width":
        shutil.copyfile(spare / "model.safetensors", weights)
        return "size mismatch"
    if how == "other catalogue":
        vocab = pl.read_parquet(spare / ITEM_VOCAB)
        vocab.with_columns(pl.col(vocab.columns[0]).reverse()).write_parquet(folder / ITEM_VOCAB)
        return "not the first"
    weights.unlink()
    return "model.safetensors"


def _lists_and_versions(server: Server, key: str, tries: int) -> set[tuple[str, tuple[float, ...]]]:
    """(model version, scores of a fixed list) seen over `tries` new connections: the kernel spreads new
    connections over the workers, so 30 of them reach both (each one alone with probability 2^-29)."""
    seen = set()
    for _ in range(tries):
        with server.client(key) as client:
            ready = client.get("/readyz").json()
            listed = client.get("/v1/users/x/recommendations", params={"k": 5, "now": 1_700_001_000})
            assert listed.status_code == 200, listed.text
            seen.add((ready["model_version"], tuple(i["score"] for i in listed.json()["items"])))
    return seen


def test_a_broken_model_folder_is_refused_and_every_worker_keeps_serving_the_old_model(
    tmp_path: Path, servers: list[Server]
) -> None:
    cleaned = write_shop(tmp_path)
    folder, spare = tmp_path / "model", tmp_path / "wide"
    train_shop_model(cleaned, folder, seed=1)
    _train_other_width(cleaned, spare)
    first = weights_version(folder)
    db = str(tmp_path / "db" / "t.sqlite")
    key = _key(db, tmp_path / "db")
    server = _serve(cleaned, db, tmp_path / "db", free_port(), "--model", str(folder))
    servers.append(server)
    with server.client(key) as client:
        assert client.post("/v1/events", json=_batch("x", 6, 0)).status_code == 200
    (served,) = _lists_and_versions(server, key, 30)
    assert served[0] == first

    pristine = tmp_path / "pristine"
    shutil.copytree(folder, pristine)
    for how in ("corrupted", "truncated", "other width", "other catalogue", "weights missing"):
        named = _break(folder, how, spare)
        for _ in range(4):
            with server.client(key) as client:
                answer = client.post("/v1/model/reload")
            assert answer.status_code == 400, (how, answer.text)
            error = answer.json()["error"]
            assert str(folder) in error, (how, error)
            assert named in error, (how, error)
            assert "Traceback" not in error
        assert _lists_and_versions(server, key, 30) == {served}, how
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder)

    train_shop_model(cleaned, folder, seed=2)
    second = weights_version(folder)
    with server.client(key) as client:
        answer = client.post("/v1/model/reload")
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"seconds": 0} == {"model_version": second, "previous_version": first, "seconds": 0}
    _wait_for(lambda: {v for v, _ in _lists_and_versions(server, key, 10)} == {second}, 60, "both workers follow")
    assert {v for v, _ in _lists_and_versions(server, key, 30)} == {second}


def _private_tmpfs() -> tuple[str, ...] | None:
    """A command prefix that runs its arguments with a small tmpfs mounted over $1 in a private mount namespace
    (an unprivileged user namespace, so no root is needed), after copying the file $2 into it; None where this
    machine does not allow one."""
    if shutil.which("unshare") is None:
        return None
    wrap = ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c")
    probe = subprocess.run([*wrap, "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True, check=False)
    if probe.returncode != 0:
        return None
    return (*wrap, 'mount -t tmpfs -o size=16m tmpfs "$1" && cp "$2" "$1/t.sqlite" && shift 2 && exec "$@"', "sh")


def _fill(path: Path) -> str:
    """Write zeros to `path` until its filesystem is full; the error that stopped it."""
    with path.open("wb", buffering=0) as ballast:
        try:
            while True:
                ballast.write(b"\0" * 65536)
        except OSError as exc:
            return str(exc)


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
    return str(verdict)


def test_a_full_disk_gives_503_keeps_the_database_whole_and_heals(tmp_path: Path, servers: list[Server]) -> None:
    wrapper = _private_tmpfs()
    if wrapper is None:
        pytest.skip("this machine allows no user namespace with its own tmpfs (unshare), so no small disk to fill")
    cleaned = write_shop(tmp_path)
    seed = tmp_path / "seed.sqlite"
    key = _key(str(seed), tmp_path / "secrets")
    disk = tmp_path / "disk"
    disk.mkdir()
    db = str(disk / "t.sqlite")
    server = _serve(cleaned, db, tmp_path / "secrets", free_port(), prefix=(*wrapper, str(disk), str(seed)))
    servers.append(server)
    inside = Path(f"/proc/{server.proc.pid}/root") / disk.relative_to("/")
    acknowledged: dict[str, int] = {}
    with server.client(key) as client:
        for n in range(5):
            assert client.post("/v1/events", json=_batch(f"before{n}", 5, 10 * n)).status_code == 200
            acknowledged[f"before{n}"] = 5
        assert "No space left" in _fill(inside / "ballast")
        refused = None
        for n in range(2000):
            answer = client.post("/v1/events", json=_batch(f"full{n}", 5, 10 * n))
            if answer.status_code != 200:
                refused = (f"full{n}", answer)
                break
            acknowledged[f"full{n}"] = 5
        assert refused is not None, "2,000 batches fitted on a full disk"
        user, answer = refused
        assert answer.status_code == 503, answer.text
        assert "full" in answer.json()["error"], answer.text
        assert int(answer.headers["retry-after"]) > 0
        assert _events(client, user) == 0, "a refused batch left events behind"
        assert client.get("/v1/users/before0/recommendations").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert _integrity(inside / "t.sqlite") == "ok"

        (inside / "ballast").unlink()
        again = client.post("/v1/events", json=_batch(user, 5, 10 * int(user[4:])))
        assert again.status_code == 200, again.text
        assert again.json()["accepted"] == 5
        acknowledged[user] = 5
        for n in range(20):
            assert client.post("/v1/events", json=_batch(f"after{n}", 5, 10 * n)).status_code == 200
            acknowledged[f"after{n}"] = 5
        assert all(_events(client, u) == count for u, count in acknowledged.items())
        assert client.get("/metrics").status_code == 200
        assert _integrity(inside / "t.sqlite") == "ok"
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0


@pytest.mark.postgres
def test_postgres_stopped_and_started_under_load(
    tmp_path: Path, postgres_cluster: PostgresCluster, servers: list[Server]
) -> None:
    cleaned = write_shop(tmp_path)
    key = _key(postgres_cluster.url, tmp_path / "db")
    server = _serve(cleaned, postgres_cluster.url, tmp_path / "db", free_port(), "--rate-limit", "100000")
    servers.append(server)
    load = Load(server, key)
    load.start()
    try:
        _wait_for(lambda: sum(load.acknowledged.values()) >= 40, 60, "events acknowledged before the outage")
        postgres_cluster.stop()
        down = time.monotonic()
        _wait_for(lambda: len([a for a in load.since(down) if a[2] == 503]) >= 6, 30, "503s during the outage")
        time.sleep(2.0)  # a restart's outage, not a blip
        postgres_cluster.start()
        back = time.monotonic()
        _wait_for(lambda: {a[1] for a in load.since(back) if a[2] == 200} == {"events", "read"}, 30, "recovery")
        recovered = time.monotonic()
        time.sleep(1.0 + RECONNECT_SECONDS)
    finally:
        load.stop()
    outage = load.since(down)
    assert {a[2] for a in load.answers} <= {200, 503}, Counter(a[2] for a in load.answers)
    unavailable = [a for a in outage if a[2] == 503]
    assert all(a[3] is not None and int(a[3]) > 0 for a in unavailable)
    assert all("database" in a[4] for a in unavailable), unavailable[:3]
    assert max(a[0] for a in unavailable) - back < 5.0, "503s went on more than 5 s after the database returned"
    assert recovered - back < 5.0
    # Each worker process reconnects on its own: one whose last try failed just before the database returned
    # answers 503 at once for up to RECONNECT_SECONDS more, by design (storage.py), then serves.
    late = [a for a in load.since(recovered + RECONNECT_SECONDS) if a[2] != 200]
    assert not late, late[:3]

    with server.client(key) as client:
        for user, count in load.acknowledged.items():
            assert _events(client, user) >= count, user
