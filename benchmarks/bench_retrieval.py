"""The candidate stage's recall against latency on the 101,888-item catalogue (Online Retail 5-core grown 32x,
USE vectors, the one bench_serve loads): faiss HNSW over the full keys (M 16 as before, and M 32) and over the keys
projected to 32-128 principal directions (M 32, efSearch 200-400; the default: 64 dims, efSearch 200), and
IVF-SQ8 (4 or 8 sqrt(N) lists, 16-128 probed), each re-scored exactly, against the exact scan, on real users' last
20 events and on random 20-item profiles (one thread).

Usage:
  .venv/bin/python -m benchmarks.bench_retrieval [--factor 32] [--users 300]

Writes benchmarks/results/retrieval.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, git_commit
from benchmarks.bench_serve import big_catalogue, retrieval
from tiderec.clean.store import read_cleaned
from tiderec.ranking.retrieval import IndexConfig


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Candidate stage: recall against latency (faiss HNSW or IVF-SQ8, re-scored exactly)",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit {report['commit']}, {report['date']}, {report['machine']}; {report['items']:,} items, "
        f"{report['users']} queries of each kind, one thread. Recall: share of the exact scan's top 10 / 200 found.",
        "",
        "| engine | build s | queries | recall@10 | recall@200 | ms per search (exact scan) |",
        "|---|---:|---|---:|---:|---|",
    ]
    for run in report["runs"]:
        for kind, row in run["kinds"].items():
            lines.append(
                f"| {run['engine']} | {run.get('build_s', '')} | {kind} | {row['recall_at_10']} "
                f"| {row['recall_at_200']} | {row['index_ms_per_search']} ({row['exact_ms_per_search']}) |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--factor", type=int, default=32)
    parser.add_argument("--users", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cleaned, _, _ = big_catalogue(args.factor)
    report: dict[str, Any] = {
        "command": "python -m benchmarks.bench_retrieval " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "users": args.users,
        "runs": [],
    }
    n = len(read_cleaned(cleaned).item_vocab)
    full_m16 = {"hnsw_m": 16, "ef_construction": 80, "hnsw_dim": None}
    configs = [IndexConfig(engine="hnsw", ef_search=ef, **full_m16) for ef in (200, 300)]  # type: ignore[arg-type]
    configs += [IndexConfig(engine="hnsw", hnsw_dim=None)]
    configs += [IndexConfig(engine="hnsw", hnsw_dim=dim) for dim in (32, 128)]
    configs += [IndexConfig(engine="hnsw", ef_search=ef) for ef in (200, 300, 400)]
    configs += [
        IndexConfig(engine="ivf", nlist=int(per_root * np.sqrt(n)), nprobe=nprobe)
        for per_root in (4, 8)
        for nprobe in (16, 32, 64, 128)
    ]
    for config in configs:
        probe = retrieval(cleaned, args.users, 0, config)
        report["items"] = probe["items"]
        report["runs"].append(probe)
        print(json.dumps(probe), flush=True)
        (RESULTS / "retrieval.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (RESULTS / "retrieval.md").write_text(markdown(report), encoding="utf-8")
    print(f"-> {RESULTS / 'retrieval.md'}")


if __name__ == "__main__":
    main()
