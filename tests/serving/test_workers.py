"""Several processes serving one database stay in step: catalogue upserts and model swaps made through one are
followed by the others, concurrent ingests of one user lose no event (an ingest that raced another is folded
again from what the other committed), /metrics sums every process, and a
worker that dies is replaced."""

from __future__ import annotations

import http.client
import os
import pickle
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import toy_lasting, train_shop_model, write_shop
from tiderec.ranking.retrieval import IndexConfig
from tiderec.serving.launch import ServeConfig, build_app
from tiderec.serving.service import EventIn, ItemIn, Learned, Service, load_service
from tiderec.testing.server import TIDEREC, free_port, start_server
from tiderec.train.checkpoint import weights_version


def test_processes_sharing_a_database_follow_upserts_and_model_swaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cleaned = write_shop(tmp_path)
    folder = tmp_path / "model"
    train_shop_model(cleaned, folder, seed=1)
    db = tmp_path / "db" / "t.sqlite"
    first, second = load_service(cleaned, db, folder), load_service(cleaned, db, folder)

    item = ItemIn("k1", "purple inflatable kayak paddle", 90.0, None)
    assert first.upsert_items([item]) == {"inserted": 1, "updated": 0, "items": 31}
    event = EventIn("x", "k1", 1_700_000_000_000_000, "cart")
    assert second.ingest([event])["unknown_items"] == 0
    assert second.catalogue.titles[-1] == item.title
    renamed = ItemIn("k1", "purple kayak paddle, carbon", 120.0, None)
    assert second.upsert_items([renamed])["updated"] == 1
    assert first.recommend("x", 3)["user_id"] == "x"
    assert first.catalogue.titles[-1] == renamed.title
    assert len(first.catalogue.vocab) == len(second.catalogue.vocab) == 31

    old = first.context.model_version
    train_shop_model(cleaned, folder, seed=2)
    new = first.reload_model()["model_version"]
    assert new == weights_version(folder) != old
    assert second.context.model_version == old
    second.recommend("x", 3)
    deadline = time.monotonic() + 60
    while second.context.model_version != new and time.monotonic() < deadline:
        time.sleep(0.1)
    assert second.context.model_version == new

    counted = first.interests("x")["events"]
    locked = first.store.locked

    def raced(users: Iterable[str]) -> AbstractContextManager[None]:
        """Another process commits an event of the same user after this one read it, before it locks."""
        second.ingest([EventIn("x", "i3", 1_700_000_100_000_000, "view")])
        return locked(users)

    monkeypatch.setattr(first.store, "locked", raced)
    assert first.ingest([EventIn("x", "i4", 1_700_000_200_000_000, "view")])["accepted"] == 1
    monkeypatch.undo()
    assert first.interests("x")["events"] == second.interests("x")["events"] == counted + 2

    first.publish_metrics("a", [("/v1/events", 200, 3, 0.5)])
    second.publish_metrics("b", [("/v1/events", 200, 2, 0.25), ("/v1/events", 400, 1, 0.01)])
    first.publish_metrics("a", [("/v1/events", 200, 4, 0.75)])
    assert first.metric_totals() == [("/v1/events", 200, 6, 1.0), ("/v1/events", 400, 1, 0.01)]


def test_two_workers_lose_no_concurrent_event_and_a_killed_one_is_replaced(tmp_path: Path) -> None:
    cleaned = write_shop(tmp_path)
    db = tmp_path / "db" / "t.sqlite"
    create = [TIDEREC, "keys", "create", "ops", "--scope", "admin", "--db", str(db)]
    key = subprocess.run(create, capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    proc = start_server(["--data", str(cleaned), "--db", str(db), "--no-query", "--workers", "2"], port)
    base = f"http://127.0.0.1:{port}"
    accepted: list[int] = []
    try:

        def post(thread: int) -> None:
            for batch in range(20):
                ts = 1_700_000_000 + 1000 * thread + 10 * batch
                events = [{"user_id": "shared", "item_id": f"i{(thread + k) % 30}", "ts": ts + k} for k in range(3)]
                answer = httpx.post(
                    f"{base}/v1/events", json={"events": events}, headers={"X-API-Key": key}, timeout=30
                )
                assert answer.status_code == 200, answer.text
                accepted.append(answer.json()["accepted"])

        threads = [threading.Thread(target=post, args=(t,)) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
            assert sum(accepted) == 360
            assert client.get("/v1/users/shared/interests").json()["events"] == 360
            time.sleep(1.5)
            metrics = client.get("/metrics").text
        assert 'tiderec_requests_total{route="/v1/events",status="200"} 120' in metrics
        with sqlite3.connect(db) as conn:
            (workers,) = conn.execute("SELECT COUNT(DISTINCT worker) FROM service_metrics WHERE n > 0").fetchone()
        assert workers == 2
        first = _workers(proc.pid)
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (len(_workers(proc.pid)) < 2 or first[0] in _workers(proc.pid)):
            time.sleep(0.2)
        assert len(_workers(proc.pid)) == 2
        assert first[0] not in _workers(proc.pid)
        for _ in range(10):
            answer = httpx.get(f"{base}/v1/users/shared/interests", headers={"X-API-Key": key}, timeout=30)
            assert answer.json()["events"] == 360
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_parent_hands_connections_to_the_workers_in_turn(tmp_path: Path) -> None:
    """Eight kept-alive connections to two workers: four each (a kernel hash over the addresses, as with a socket
    per worker, splits them unevenly in most runs), every one answered by the worker that holds it."""
    cleaned = write_shop(tmp_path)
    port = free_port()
    args = ["--data", str(cleaned), "--db", str(tmp_path / "t.sqlite"), "--no-query", "--workers", "2"]
    proc = start_server(args, port)
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(8)]
    try:
        for conn in conns:
            conn.request("GET", "/readyz")
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 200
        held = _connections_held(_workers(proc.pid), port)
        assert sorted(held.values()) == [4, 4]
        for conn in conns:
            conn.request("GET", "/readyz")
            assert conn.getresponse().status == 200
    finally:
        for conn in conns:
            conn.close()
        proc.terminate()
        proc.wait(30)


def _connections_held(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections to local `port` each process holds (Linux /proc)."""
    inodes: set[str] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    held = {}
    for pid in pids:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        held[pid] = sum(link.startswith("socket:[") and link[8:-1] in inodes for link in links)
    return held


def _workers(parent: int) -> list[int]:
    """Process ids of the worker processes of `tiderec serve` process `parent`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


@pytest.mark.parametrize("engine", ["hnsw", "ivf"])
def test_an_approximate_index_serves_the_exact_lists_on_a_small_catalogue(tmp_path: Path, engine: str) -> None:
    """With every item in reach (30 items: HNSW's candidate list and IVF's probes cover them all), the index
    engines give the exact scan's lists, also for an item upserted and one replaced after start."""
    cleaned = write_shop(tmp_path)
    db = tmp_path / "db" / "t.sqlite"
    exact = load_service(cleaned, db)
    approx = load_service(cleaned, db, index=IndexConfig(scan_below=1, engine=engine))  # type: ignore[arg-type]
    assert approx.recommender.text_index is not None
    assert exact.recommender.text_index is not None
    assert approx.recommender.text_index.engine == engine
    assert exact.recommender.text_index.engine == "exact"
    now = 1_700_000_000_000_000
    items = exact.catalogue.vocab.ids.to_list()
    exact.ingest([EventIn("u", items[k], now + k, "view") for k in (1, 4, 9, 4)])
    exact.upsert_items([ItemIn("k1", "purple inflatable kayak paddle", 90.0, None)])
    exact.upsert_items([ItemIn(items[2], "orange waterproof kayak dry bag", 40.0, None)])
    exact.ingest([EventIn("u", "k1", now + 10, "cart")])
    lists = [[i["item_id"] for i in s.recommend("u", 10, now_us=now + 20)["items"]] for s in (exact, approx)]
    assert lists[0] == lists[1]
    assert len(lists[0]) == 10


def test_workers_take_the_lasting_model_their_parent_learned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent of several workers learns the lasting-move model once; a worker uses the one it is handed (it
    crosses the process boundary pickled) and learns nothing while it starts."""
    cleaned = write_shop(tmp_path)
    config = ServeConfig(str(cleaned), str(tmp_path / "db" / "t.sqlite"), workers=2)
    learned_here: list[int] = []
    monkeypatch.setattr(Service, "learn_lasting", lambda self, cleaned: learned_here.append(1))
    build_app(config)
    assert learned_here == [1]
    model = toy_lasting()
    handed = pickle.loads(pickle.dumps(Learned(model)))
    service = build_app(config, handed).state.service
    assert learned_here == [1]
    assert service.lasting is handed.lasting
    assert service.lasting.thresholds == model.thresholds
