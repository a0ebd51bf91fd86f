"""Wall time and peak memory of loading + cleaning each shipped dataset, one fresh process per run.

Usage: .venv/bin/python benchmarks/bench_ingest_clean.py [--repeats 3]
Writes benchmarks/results/ingest_clean.{json,md}. Target (issue 2): Online Retail under 10 s and 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
CASES: dict[str, tuple[str, str | None]] = {
    "online-retail (csv.gz)": ("online-retail", None),
    "online-retail (rda)": ("online-retail", "online-retail/onlineretail.rda"),
    "taobao-userbehavior": ("taobao-userbehavior", None),
    "amazon-beauty": ("amazon-beauty", None),
    "movielens-latest-small": ("movielens-latest-small", None),
}
TARGET_SECONDS = 10.0
TARGET_MB = 2048.0


def child(dataset: str, path: str | None) -> dict[str, Any]:
    """One measured run in this (fresh) process: import, load, clean."""
    start = time.perf_counter()
    from tiderec.clean.pipeline import clean
    from tiderec.clean.presets import preset_for
    from tiderec.ingest.datasets import data_root, load_dataset
    from tiderec.ingest.mapping import ReadOptions

    imported = time.perf_counter()
    source = None if path is None else data_root() / path
    ds = load_dataset(dataset, source, ReadOptions(progress=False))
    loaded = time.perf_counter()
    result = clean(ds.events, ds.items, preset_for(dataset), ds.report)
    cleaned = time.perf_counter()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "import_s": imported - start,
        "load_s": loaded - imported,
        "clean_s": cleaned - loaded,
        "load_clean_s": cleaned - imported,
        "peak_rss_mb": peak_kb / 1024,
        "rows_in": len(ds.events),
        "rows_out": len(result.events),
    }


def measure(name: str, dataset: str, path: str | None, repeats: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, __file__, "--child", dataset] + ([path] if path else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k.endswith(("_s", "_mb"))}
    return {
        "case": name,
        "dataset": dataset,
        "repeats": repeats,
        **med,
        "rows_in": runs[0]["rows_in"],
        "rows_out": runs[0]["rows_out"],
        "runs": runs,
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "polars": version("polars"),
        "pyarrow": version("pyarrow"),
    }


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        "# Ingest + clean: time and peak memory",
        "",
        f"Command: `{meta['command']}` ({meta['date']}; {m['cpus']} CPUs, "
        f"Python {m['python']}, polars {m['polars']}, pyarrow {m['pyarrow']}).",
        f"Median of {rows[0]['repeats']} fresh processes; peak = max RSS of the process (imports included).",
        "",
        "| case | rows in | rows out | load s | clean s | load+clean s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['rows_in']:,} | {r['rows_out']:,} | {r['load_s']:.2f} | {r['clean_s']:.2f} "
            f"| {r['load_clean_s']:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    lines += ["", f"Target: Online Retail load+clean < {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB peak."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        dataset, path = args.child[0], (args.child[1] if len(args.child) > 1 else None)
        print(json.dumps(child(dataset, path)))
        return
    rows = [measure(name, ds, path, args.repeats) for name, (ds, path) in CASES.items()]
    meta = {
        "command": f"python benchmarks/bench_ingest_clean.py --repeats {args.repeats}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest_clean.json").write_text(json.dumps({**meta, "results": rows}, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "ingest_clean.md").write_text(markdown(rows, meta), encoding="utf-8")
    print(markdown(rows, meta))
    retail = rows[0]
    ok = retail["load_clean_s"] < TARGET_SECONDS and retail["peak_rss_mb"] < TARGET_MB
    print("target met" if ok else "TARGET MISSED")


if __name__ == "__main__":
    main()
