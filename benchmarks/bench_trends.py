"""Demand forecast per interest (one window ahead, rolling origin) against naive and seasonal-naive baselines,
and the significant risers/fallers of the last window, on Online Retail (daily purchases, text clusters) and
Taobao (daily events, leaf categories).

Usage:
  .venv/bin/python -m benchmarks.bench_trends [--origins 56]
Writes benchmarks/results/trends.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, git_commit, with_interests
from tiderec.dynamics.trends import PERIOD, backtest, interest_counts, rising_falling, select_forecast


def run(name: str, origins: int) -> dict[str, Any]:
    inter, space = with_interests(name)
    counts = interest_counts(inter.ts, space.codes[inter.item], len(space.labels), "day")
    series = counts.counts
    moved = [t for t in rising_falling(series) if t.q < 0.05]
    n = min(origins, len(series) - 1)
    period = PERIOD["day"]
    chosen, valid_wape = None, None
    if len(series) > 2 * origins + 2 * (period or 0):
        chosen, valid_wape = select_forecast(series, period, n)
    return {
        "forecast_config": None if chosen is None else asdict(chosen),
        "validation_wape": None if valid_wape is None else round(valid_wape, 4),
        "interests": len(space.labels),
        "interest_space": space.source,
        "days": len(series),
        "origins": n,
        "wape": backtest(series, period, n, chosen),
        "last_day": counts.starts[-1].date().isoformat(),
        "significant_rising": int(sum(t.ratio > 1 for t in moved)),
        "significant_falling": int(sum(t.ratio < 1 for t in moved)),
        "top_movers": [
            {
                "interest": space.label(t.interest),
                "before": t.before,
                "now": t.now,
                "ratio": round(float(t.ratio), 3),
                "q": float(f"{t.q:.3g}"),
            }
            for t in moved[:5]
        ],
        "mean_events_per_day": float(np.mean(series.sum(axis=1))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--origins", type=int, default=56)
    args = parser.parse_args()
    results = {name: run(name, args.origins) for name in ("or", "taobao")}
    meta = {
        "command": f"python -m benchmarks.bench_trends --origins {args.origins}",
        "forecast": "tiderec: level (mean day of the last weeks) x weekday profile (the weekday's share of its week "
        "over past weeks), the number of weeks and a shared or per-interest profile chosen on the validation "
        "origins (the `origins` days before the test origins; the default when the series is too short for "
        "both); under two weeks of history: mean of the last 3 days. naive: yesterday; seasonal naive: the same "
        "weekday last week",
        "metric": "WAPE = sum |forecast - actual| / sum actual over interests and origins",
        "device": f"CPU; {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "trends.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = ["# Interest demand forecast and trends", ""] + [f"- {k}: {v}" for k, v in meta.items()]
    lines += [
        "",
        "| dataset | interests | days | test origins | WAPE tiderec | WAPE naive | WAPE seasonal naive | "
        "chosen on validation (validation WAPE) | significant rising / falling on the last day |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, r in results.items():
        w = r["wape"]
        lines.append(
            f"| {name} | {r['interests']} | {r['days']} | {r['origins']} | {w['tiderec']:.3f} | {w['naive']:.3f} | "
            f"{w['seasonal naive']:.3f} | {r['forecast_config'] or 'default (too short to select)'} "
            f"({r['validation_wape']}) | {r['significant_rising']} / {r['significant_falling']} ({r['last_day']}) |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / "trends.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
