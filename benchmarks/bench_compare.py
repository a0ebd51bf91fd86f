"""English comparison extraction on a hand-annotated check set of 30 SCRQD questions (benchmarks/data).

Usage:
  .venv/bin/python -m benchmarks.bench_compare
Writes benchmarks/results/compare.{json,md}: product-mention precision/recall/F1 (exact strings) and aspect
recall/precision.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench_models import RESULTS, git_commit
from tiderec.query.compare import comparison

CHECK = Path(__file__).resolve().parent / "data" / "scrqd_check.jsonl"


def main() -> None:
    rows = [json.loads(line) for line in CHECK.read_text(encoding="utf-8").splitlines() if line.strip()]
    tp = n_pred = n_gold = a_tp = a_pred = a_gold = 0
    for row in rows:
        found = comparison(row["text"])
        pred = {found.subject, *found.objects} - {None}
        gold = set(row["products"])
        tp, n_pred, n_gold = tp + len(pred & gold), n_pred + len(pred), n_gold + len(gold)
        a_tp += len(set(found.aspects) & set(row["aspects"]))
        a_pred, a_gold = a_pred + len(found.aspects), a_gold + len(row["aspects"])
    p, r = tp / max(n_pred, 1), tp / max(n_gold, 1)
    results: dict[str, Any] = {
        "questions": len(rows),
        "products": {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12), "gold": n_gold},
        "aspects": {"precision": a_tp / max(a_pred, 1), "recall": a_tp / max(a_gold, 1), "gold": a_gold},
    }
    meta = {
        "command": "python -m benchmarks.bench_compare",
        "check_set": "benchmarks/data/scrqd_check.jsonl (30 questions, hand-annotated; see benchmarks/data/README.md)",
        "device": f"CPU; {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compare.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    pr, asp = results["products"], results["aspects"]
    text = "\n".join(
        ["# English comparison extraction (SCRQD check set)", ""]
        + [f"- {k}: {v}" for k, v in meta.items()]
        + ["", "| what | gold | precision | recall | F1 |", "|---|---:|---:|---:|---:|",
           f"| compared products | {pr['gold']} | {pr['precision']:.3f} | {pr['recall']:.3f} | {pr['f1']:.3f} |",
           f"| aspects | {asp['gold']} | {asp['precision']:.3f} | {asp['recall']:.3f} | |"]
    ) + "\n"  # fmt: skip
    (RESULTS / "compare.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
