"""The API fuzzed at length from its own OpenAPI schema, over HTTP against a running `tiderec serve` (Online
Retail, its interest model, query understanding, SQLite, two workers): schemathesis + hypothesis generate
--examples requests per operation (fewer where the operation's inputs run out first), each sent with an admin key
and with none; every answer must be below 500. After each `POST /v1/events` answered 200, the first event's user
is read back (`GET /v1/users/{id}/interests`: 200 with at least one event): the sequence that the schema's links
would chain, had FastAPI's schema any. The dashboard, whose key travels as ?key=, gets the admin key there.
The suite's test (`tests/serving/test_fuzz.py`) keeps 25 per operation.

Usage:
  .venv/bin/python -m benchmarks.bench_fuzz --examples 500
Writes benchmarks/results/fuzz.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from benchmarks.bench_models import RESULTS, RUNS, git_commit
from benchmarks.bench_serve import online_retail
from tiderec.serving.keys import KeyStore
from tiderec.serving.service import server_secret
from tiderec.storage import Database
from tiderec.testing.server import free_port, start_server

ROOT = RUNS.parent / "fuzz"


def fuzz_operation(operation: Any, base: str, key: str, examples: int) -> dict[str, Any]:
    """Run one operation's generated cases; status counts, server errors and failed read-backs (the first 5)."""
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    cases = {"n": 0, "read_back": 0, "read_back_failed": 0}
    reader = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60)

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              phases=[Phase.generate])  # fmt: skip
    def run(case: Any) -> None:
        cases["n"] += 1
        for headers in ({"X-API-Key": key}, {}):
            params = {"key": key} if headers and case.path.startswith("/dashboard/") else None  # its key is ?key=
            response = case.call(base_url=base, headers=headers, params=params, timeout=60)
            statuses[response.status_code] += 1
            if response.status_code >= 500 and len(errors) < 5:
                errors.append(f"{case.method} {case.path} {response.status_code}: {response.text[:200]}")
            if headers and case.method == "POST" and case.path == "/v1/events" and response.status_code == 200:
                events = (case.body or {}).get("events") or []
                if events:
                    cases["read_back"] += 1
                    user = str(events[0]["user_id"])
                    answer = reader.get(f"/v1/users/{quote(user, safe='')}/interests")
                    statuses[answer.status_code] += 1
                    if answer.status_code != 200 or answer.json()["events"] < 1:
                        cases["read_back_failed"] += 1
                        if len(errors) < 5:
                            errors.append(f"read back of user {user!r}: {answer.status_code} {answer.text[:200]}")

    started = time.perf_counter()
    run()
    reader.close()
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    return {"operation": operation.label, "cases": cases["n"], "requests": sum(statuses.values()),
            "statuses": dict(sorted(statuses.items())), "server_errors": server_errors,
            "examples": errors, "read_back": cases["read_back"], "read_back_failed": cases["read_back_failed"],
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# The API fuzzed at length (schemathesis, over HTTP)",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit {report['commit']}, {report['date']}, {report['machine']}; `tiderec serve --workers 2`, "
        f"{report['catalogue']}, SQLite; each case sent with an admin key and with none.",
        "",
        "| operation | cases | requests | statuses | server errors | events read back (failed) | seconds |",
        "|---|---:|---:|---|---:|---|---:|",
    ]
    for r in report["operations"]:
        statuses = ", ".join(f"{s}: {n}" for s, n in r["statuses"].items())
        back = f"{r['read_back']} ({r['read_back_failed']})" if r["read_back"] else ""
        lines.append(f"| `{r['operation']}` | {r['cases']} | {r['requests']} | {statuses} | {r['server_errors']} "
                     f"| {back} | {r['seconds']} |")  # fmt: skip
    total = report["totals"]
    lines += [
        "",
        f"In all: {total['cases']:,} cases, {total['requests']:,} requests, {total['server_errors']} server errors.",
    ]
    for r in report["operations"]:
        lines += [f"- {e}" for e in r["examples"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=500, help="Generated cases per operation.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cleaned, model, label = online_retail()
    ROOT.mkdir(parents=True, exist_ok=True)
    for stale in ROOT.glob("fuzz.sqlite*"):
        stale.unlink()
    db = str(ROOT / "fuzz.sqlite")
    database = Database(db)
    key = KeyStore(database, server_secret(ROOT)).create("fuzz", ["admin"])
    database.close()
    port = free_port()
    serve = ["--data", str(cleaned), "--model", str(model), "--db", db, "--secret-dir", str(ROOT), "--workers", "2",
             "--intent-model", str(RUNS.parent / "soak" / "intent"), "--rate-limit", "1000000"]  # fmt: skip
    proc = start_server(serve, port, timeout=900)
    base = f"http://127.0.0.1:{port}"
    try:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        results = []
        for found in schema.get_all_operations():
            result = fuzz_operation(found.ok(), base, key, args.examples)  # type: ignore[union-attr]
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        proc.terminate()
        proc.wait(60)
    report: dict[str, Any] = {
        "command": "python -m benchmarks.bench_fuzz " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "catalogue": label,
        "examples_per_operation": args.examples,
        "operations": results,
        "totals": {k: sum(r[k] for r in results) for k in ("cases", "requests", "server_errors")},
    }
    (RESULTS / "fuzz.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "fuzz.md").write_text(markdown(report), encoding="utf-8")
    print(json.dumps(report["totals"]))
    print(f"-> {RESULTS / 'fuzz.md'}")


if __name__ == "__main__":
    main()
