"""Soak: mixed load on 127.0.0.1 against `tiderec serve --workers 2` for --minutes, on SQLite or PostgreSQL
(scripts/postgres.sh starts a cluster of its own), with Online Retail, its interest model and query understanding.

Usage:
  .venv/bin/python -m benchmarks.bench_soak --db sqlite --minutes 30
  .venv/bin/python -m benchmarks.bench_soak --db postgres --minutes 30

The mix (weights): event batches of 1-10 events (30), recommendations (25) and with exploration (10), interests
(10), shopper queries from the shipped English intents (10, half with a user), trends (7), the dashboard (5),
catalogue upserts from a pool of 200 items (3: new the first time, changed afterwards, so the catalogue grows by
at most 200). --clients asyncio clients pace themselves to --rate requests/s in all (below saturation, so that
minutes compare). Every 10 s the RSS and open file descriptors of each server process are read from /proc; each
request's latency is kept per route and minute. At the end every user's stored event count is read back and
compared with the events of its acknowledged (200) batches. The per-key rate limit is lifted.
Writes benchmarks/results/soak_<db>.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.bench_models import RESULTS, RUNS, git_commit
from benchmarks.bench_serve import online_retail
from tiderec.clean.store import read_cleaned
from tiderec.ingest.datasets import data_root
from tiderec.query.intent import read_intents
from tiderec.serving.keys import KeyStore
from tiderec.serving.service import server_secret
from tiderec.storage import Database
from tiderec.testing.server import free_port, start_server

ROOT = RUNS.parent / "soak"
POSTGRES = Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"
MIX = {"events": 30, "recommend": 25, "recommend_explore": 10, "interests": 10, "query": 10, "trends": 7,
       "dashboard": 5, "items": 3}  # fmt: skip
SAMPLE_SECONDS = 10.0
TIMEOUT_SECONDS = 10.0
SOAK_ITEMS = 200


@dataclass
class Shop:
    """What the clients draw from, and what they observed."""

    item_ids: list[str]
    titles: list[str]
    queries: list[str]
    users: int
    started: float = field(default_factory=time.monotonic)
    latencies: dict[tuple[str, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int | str]] = field(default_factory=Counter)
    acknowledged: Counter[str] = field(default_factory=Counter)
    in_doubt: Counter[str] = field(default_factory=Counter)
    last_ts: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    """The first answers >= 500, with their bodies."""

    def record(self, route: str, status: int | str, sent: float) -> None:
        """One answer (or client error) of a request sent at `sent` (time.monotonic()), kept under its minute."""
        minute = int((sent - self.started) // 60)
        self.latencies[(route, minute)].append((time.monotonic() - sent) * 1000)
        self.statuses[(route, status)] += 1

    def batch(self, rng: random.Random) -> tuple[str, list[dict[str, Any]]]:
        """A user's next 1-10 events, each at a later time than the user's previous one (no duplicates)."""
        user = f"soak-{rng.randrange(self.users)}"
        ts = max(time.time(), self.last_ts.get(user, 0.0) + 0.001)
        events = []
        for _ in range(rng.randint(1, 10)):
            events.append({"user_id": user, "item_id": rng.choice(self.item_ids), "ts": round(ts, 3),
                           "event_type": rng.choice(["view", "view", "view", "cart", "purchase"])})  # fmt: skip
            ts += 0.001
        self.last_ts[user] = ts
        return user, events


async def one_request(client: httpx.AsyncClient, shop: Shop, route: str, rng: random.Random, key: str) -> None:
    user = f"soak-{rng.randrange(shop.users)}"
    events: list[dict[str, Any]] = []
    sent = time.monotonic()
    try:
        if route == "events":
            user, events = shop.batch(rng)
            answer = await client.post("/v1/events", json={"events": events})
        elif route in ("recommend", "recommend_explore"):
            params = {"k": "10", "explore": str(route == "recommend_explore").lower()}
            answer = await client.get(f"/v1/users/{user}/recommendations", params=params)
        elif route == "interests":
            answer = await client.get(f"/v1/users/{user}/interests")
        elif route == "query":
            body = {"text": rng.choice(shop.queries), "user_id": user if rng.random() < 0.5 else None}
            answer = await client.post("/v1/query", json=body)
        elif route == "trends":
            answer = await client.get("/v1/trends")
        elif route == "dashboard":
            answer = await client.get(f"/dashboard/{user}", params={"key": key})
        else:
            k = rng.randrange(SOAK_ITEMS)
            title = f"{rng.choice(shop.titles)} (soak edition {k}, {rng.randrange(5)})"
            item = {"item_id": f"soak-item-{k}", "title": title, "price": round(rng.uniform(1, 50), 2)}
            answer = await client.post("/v1/items", json={"items": [item]})
    except httpx.HTTPError as exc:
        shop.record(route, type(exc).__name__, sent)
        if events:
            shop.in_doubt[user] += len(events)
        return
    shop.record(route, answer.status_code, sent)
    if answer.status_code >= 500 and len(shop.errors) < 10:
        shop.errors.append(f"{route} {answer.status_code}: {answer.text[:300]}")
    if events:
        if answer.status_code == 200:
            shop.acknowledged[user] += len(events)
        elif answer.status_code >= 500:
            shop.in_doubt[user] += len(events)


async def client_loop(base: str, key: str, shop: Shop, seed: int, rate: float, until: float) -> None:
    """One client: weighted routes at `rate` requests/s on a fixed schedule (a late request is not made up)."""
    rng = random.Random(seed)
    routes, weights = list(MIX), list(MIX.values())
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=TIMEOUT_SECONDS) as client:
        due = time.monotonic()
        while time.monotonic() < until:
            await one_request(client, shop, rng.choices(routes, weights)[0], rng, key)
            due = max(due + 1 / rate, time.monotonic() - 1 / rate)
            await asyncio.sleep(max(0.0, due - time.monotonic()))


def processes(parent: int) -> dict[int, str]:
    """The server's processes: the parent and its children (pid -> role: worker, or multiprocessing's resource
    tracker)."""
    found = {parent: "parent"}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                cmdline = (stat.parent / "cmdline").read_bytes()
                found[int(stat.parent.name)] = "worker" if b"spawn_main" in cmdline else "resource tracker"
        except (OSError, ValueError, IndexError):
            continue
    return found


def sample(parent: int, since: float) -> list[dict[str, Any]]:
    """RSS (MB) and open file descriptors of each server process now."""
    rows = []
    for pid, role in processes(parent).items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        rows.append({"t_s": round(time.monotonic() - since, 1), "pid": pid, "role": role,
                     "rss_mb": round(rss / 1024, 1), "fds": fds})  # fmt: skip
    return rows


async def soak(base: str, key: str, shop: Shop, parent: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    until = shop.started + args.minutes * 60
    samples = sample(parent, shop.started)

    async def sampler() -> None:
        while time.monotonic() < until:
            await asyncio.sleep(SAMPLE_SECONDS)
            samples.extend(sample(parent, shop.started))

    per_client = args.rate / args.clients
    await asyncio.gather(sampler(), *(client_loop(base, key, shop, s, per_client, until) for s in range(args.clients)))
    return samples


def stored_events(base: str, key: str, users: list[str]) -> dict[str, int]:
    """Each user's event count in the stored state, read back through the API."""
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
        return {u: int(client.get(f"/v1/users/{u}/interests").raise_for_status().json()["events"]) for u in users}


def per_minute(shop: Shop) -> dict[str, list[dict[str, float]]]:
    """p50 / p99 ms and request count per route and minute."""
    table: dict[str, list[dict[str, float]]] = defaultdict(list)
    for (route, minute), values in sorted(shop.latencies.items()):
        p50, p99 = (round(float(np.percentile(values, q)), 2) for q in (50, 99))
        table[route].append({"minute": minute + 1, "n": len(values), "p50_ms": p50, "p99_ms": p99})
    return dict(table)


def verdicts(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's criteria: p99 of minute `reference` (5, or 1 in a run under 10 minutes) against the last full
    minute; RSS and open fds sampled at the end of minute `reference` against the last sample."""
    minutes = report["minutes"]
    reference = 5 if minutes >= 10 else 1
    server_errors = sum(n for (route, status), n in report["_statuses"] if isinstance(status, int) and status >= 500)
    client_errors = sum(n for (route, status), n in report["_statuses"] if isinstance(status, str))
    rss: dict[str, dict[str, float]] = {}
    for pid in {s["pid"] for s in report["samples"]}:
        series = [s for s in report["samples"] if s["pid"] == pid]
        start = [s for s in series if s["t_s"] >= reference * 60 - SAMPLE_SECONDS / 2] or series
        if len(start) < 2:
            continue
        rss[f"{series[0]['role']} {pid}"] = {
            "from_mb": start[0]["rss_mb"], "to_mb": series[-1]["rss_mb"],
            "growth": round(series[-1]["rss_mb"] / start[0]["rss_mb"] - 1, 4),
            "fds_from": start[0]["fds"], "fds_to": series[-1]["fds"],
        }  # fmt: skip
    p99: dict[str, dict[str, float]] = {}
    for route, rows in report["per_minute"].items():
        full = [r for r in rows if r["minute"] <= minutes]
        ref = next((r for r in full if r["minute"] == reference), None)
        if ref is None or not full:
            continue
        p99[route] = {"reference_ms": ref["p99_ms"], "last_ms": full[-1]["p99_ms"],
                      "ratio": round(full[-1]["p99_ms"] / ref["p99_ms"], 3)}  # fmt: skip
    events = report["events"]
    return {
        "reference_minute": reference,
        "server_errors": server_errors,
        "client_errors": client_errors,
        "rss": rss,
        "p99": p99,
        "no_5xx": server_errors == 0,
        "rss_growth_under_10pct": all(r["growth"] < 0.10 for r in rss.values()),
        "p99_within_1_5x": all(r["ratio"] <= 1.5 for r in p99.values()),
        "acknowledged_all_present": events["missing"] == 0,
    }


def markdown(report: dict[str, Any]) -> str:
    v = report["verdicts"]
    ref = v["reference_minute"]
    lines = [
        f"# Soak: {report['minutes']} minutes of mixed load, {report['db']}",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit {report['commit']}, {report['date']}, {report['machine']}; `tiderec serve --workers 2`, "
        f"{report['catalogue']}; {report['clients']} clients pacing {report['rate']} requests/s in all on 127.0.0.1.",
        "",
        "| criterion | result |",
        "|---|---|",
        f"| no 5xx | {'yes' if v['no_5xx'] else 'no'} ({v['server_errors']} server errors, "
        f"{v['client_errors']} client-side errors or timeouts) |",
        f"| RSS growth under 10% from the end of minute {ref} to the end, per process | "
        f"{'yes' if v['rss_growth_under_10pct'] else 'no'} |",
        f"| p99 of the last minute within 1.5x of minute {ref}, per route | "
        f"{'yes' if v['p99_within_1_5x'] else 'no'} |",
        f"| acknowledged events all stored | {'yes' if v['acknowledged_all_present'] else 'no'} "
        f"({report['events']['acknowledged']:,} acknowledged, {report['events']['found']:,} stored for "
        f"{report['events']['users']:,} users, {report['events']['missing']} missing, "
        f"{report['events']['in_doubt']} in doubt) |",
        "",
        "| process | RSS MB (end of minute " + str(ref) + " -> end) | growth | open fds |",
        "|---|---|---:|---|",
    ]
    for name, r in sorted(v["rss"].items()):
        lines.append(
            f"| {name} | {r['from_mb']} -> {r['to_mb']} | {r['growth']:+.1%} | {r['fds_from']} -> {r['fds_to']} |"
        )
    lines += ["", "p50 / p99 ms per route and minute (requests):", ""]
    minutes = sorted(
        {r["minute"] for rows in report["per_minute"].values() for r in rows if r["minute"] <= report["minutes"]}
    )
    lines += ["| route | " + " | ".join(f"min {m}" for m in minutes) + " |", "|---|" + "---|" * len(minutes)]
    for route, rows in sorted(report["per_minute"].items()):
        by = {r["minute"]: r for r in rows}
        cells = [f"{by[m]['p50_ms']} / {by[m]['p99_ms']} ({by[m]['n']:.0f})" if m in by else "" for m in minutes]
        lines.append(f"| {route} | " + " | ".join(cells) + " |")
    if report["server_errors"]:
        lines += ["", "Server errors (the first 10):", "", *(f"- {error}" for error in report["server_errors"])]
    lines += ["", "Answers per route and status: " + ", ".join(f"{r} {s}: {n}" for (r, s), n in report["_statuses"]),
              "", report["note"]]  # fmt: skip
    return "\n".join(lines) + "\n"


def postgres(folder: Path, command: str) -> str:
    done = subprocess.run([str(POSTGRES), command, str(folder)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=100.0, help="Requests per second over all clients.")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--tag", default="", help="suffix of the results file names")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    commit = git_commit()  # the code the server starts with (the tree may change during a long run)
    cleaned, model, label = online_retail()
    items = read_cleaned(cleaned).items.frame
    queries = [r.text for r in read_intents(data_root() / "queries" / "intents.dev.jsonl") if r.lang == "en"]
    shop = Shop(items["item_id"].to_list(), [t for t in items["title"].to_list() if t], queries, args.users)
    ROOT.mkdir(parents=True, exist_ok=True)
    pg_dir = Path(tempfile.mkdtemp(prefix="tiderec-soak-pg-")) if args.db == "postgres" else None
    if pg_dir is not None:
        db = postgres(pg_dir, "start")
    else:
        db = str(ROOT / "soak.sqlite")
        for stale in ROOT.glob("soak.sqlite*"):
            stale.unlink()
    database = Database(db)
    if pg_dir is not None:
        database.execute("DROP SCHEMA public CASCADE")
        database.execute("CREATE SCHEMA public")
    key = KeyStore(database, server_secret(ROOT)).create("soak", ["admin"])
    database.close()
    port = free_port()
    serve = ["--data", str(cleaned), "--model", str(model), "--db", db, "--secret-dir", str(ROOT), "--workers", "2",
             "--intent-model", str(ROOT / "intent"), "--rate-limit", "1000000"]  # fmt: skip
    proc = start_server(serve, port, timeout=900)
    base = f"http://127.0.0.1:{port}"
    try:
        shop.started = time.monotonic()
        samples = asyncio.run(soak(base, key, shop, proc.pid, args))
        users = sorted(set(shop.acknowledged) | set(shop.in_doubt))
        found = stored_events(base, key, users)
    finally:
        proc.terminate()
        proc.wait(60)
        if pg_dir is not None:
            postgres(pg_dir, "stop")
            shutil.rmtree(pg_dir, ignore_errors=True)
    missing = sum(max(0, shop.acknowledged[u] - found[u]) for u in users)
    report: dict[str, Any] = {
        "command": "python -m benchmarks.bench_soak " + " ".join(sys.argv[1:]),
        "commit": commit,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "db": "PostgreSQL (scripts/postgres.sh)" if pg_dir is not None else "SQLite (WAL)",
        "catalogue": label, "minutes": args.minutes, "rate": args.rate, "clients": args.clients,
        "exit_code": proc.returncode,
        "events": {"acknowledged": sum(shop.acknowledged.values()), "found": sum(found.values()), "users": len(users),
                   "missing": missing, "in_doubt": sum(shop.in_doubt.values())},
        "_statuses": sorted(shop.statuses.items(), key=lambda row: (row[0][0], str(row[0][1]))),
        "server_errors": shop.errors,
        "per_minute": per_minute(shop),
        "samples": samples,
        "note": "Load generator and server share this machine's cores. `missing`: acknowledged events not in the "
        "user's stored count; `in doubt`: events of batches answered 5xx or not answered (they may be stored).",
    }  # fmt: skip
    report["verdicts"] = verdicts(report)
    name = f"soak_{args.db}{args.tag}"
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown(report), encoding="utf-8")
    print(json.dumps(report["verdicts"], indent=2))
    print(f"-> {RESULTS / f'{name}.md'}")


if __name__ == "__main__":
    main()
