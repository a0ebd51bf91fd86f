"""Each row's best 200 in a served micro-batch on the 101,888-item catalogue: `models.scorer.top_rows` (block
maxima first) against `torch.topk` over every column, in one process on one thread (the service's setting).

Rows are the model's own scores (state, repeat, co-occurrence and shift terms) for two kinds of windows of 20
events: random items (the load users of bench_serve) and the last 20 events of real test users. Every timing
checks that both give the same values.

    python -m benchmarks.bench_select
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch

from benchmarks.bench_models import RESULTS, git_commit
from benchmarks.bench_serve import big_catalogue
from tiderec.data.sequences import history_arrays
from tiderec.models.interest import InterestModel
from tiderec.models.scorer import TorchScorer, top_rows
from tiderec.train.experiment import prepare
from tiderec.train.registry import load_model

KEEP = 200
"""Each user's candidates in a served micro-batch (`RecommenderConfig.candidates`)."""


def median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def windows(kind: str, prepared_items: np.ndarray, n_items: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """int64[rows, 20] windows of item ids + 1: random items, or real test users' last 20 events."""
    if kind == "random":
        return rng.integers(1, n_items + 1, size=(rows, 20))
    full = prepared_items[(prepared_items > 0).sum(axis=1) >= 20][:, -20:]
    picked: np.ndarray = full[rng.choice(len(full), rows, replace=False)]
    return picked


def measure(model: InterestModel, scorer: TorchScorer, history: np.ndarray, repeats: int) -> dict[str, Any]:
    items = torch.from_numpy(history)
    with torch.inference_mode():
        encoded = model.encode(items, torch.ones_like(items), torch.ones_like(items))[:, -1].numpy()
        scores = torch.from_numpy(scorer.score_encoded(encoded, history, np.ones(len(history), np.int64)))
    assert torch.equal(top_rows(scores, KEEP)[0], torch.topk(scores, KEEP, dim=1).values), "top_rows differs"
    return {
        "topk_ms": round(median_ms(lambda: torch.topk(scores, KEEP, dim=1), repeats), 3),
        "top_rows_ms": round(median_ms(lambda: top_rows(scores, KEEP), repeats), 3),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Each row's best 200 in a served micro-batch, 101,888 items (one thread, medians)",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit {report['commit']}, {report['date']}, {report['machine']}. Model: {report['model']}.",
        "",
        "| windows | rows | torch.topk | top_rows | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        ratio = r["topk_ms"] / r["top_rows_ms"]
        lines.append(
            f"| {r['windows']} | {r['rows']} | {r['topk_ms']:.2f} ms | {r['top_rows_ms']:.2f} ms | {ratio:.2f}x |"
        )
    lines += ["", report["notes"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--tag", default="", help="suffix of the results file names")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    cleaned, model_dir, label = big_catalogue(32)
    assert model_dir is not None
    saved = load_model(model_dir)
    model = saved.model
    assert isinstance(model, InterestModel)
    scorer = TorchScorer("tiderec", model, frozen=True)
    prepared = prepare(cleaned)
    test_items = history_arrays(prepared.inter, prepared.split.test, 20).items
    rng = np.random.default_rng(0)
    results = []
    for kind in ("random", "real"):
        for rows in (1, 4, 8, 16):
            history = windows(kind, test_items, model.n_items, rows, rng)
            result = {"windows": kind, "rows": rows, **measure(model, scorer, history, args.repeats)}
            results.append(result)
            print(json.dumps(result), flush=True)
    report = {
        "command": "python -m benchmarks.bench_select" + (f" --repeats {args.repeats}" if args.repeats != 200 else ""),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "model": label,
        "results": results,
        "notes": (
            "Each cell is the median of the repeats on the same rows (the model's scores at one moment); top_rows "
            "hands a single row to torch.topk. The same benchmark at 0faa318 also timed the new-interest shift term "
            "added item by item from each run interest's members against v gathered over every item's interest: "
            "real test users' runs covered 2,781-5,912 of the 101,888 items per row, and item by item was no faster "
            "(8 rows 1.16 against 1.06 ms), so the term stays per interest."
        ),
    }
    (RESULTS / f"select{args.tag}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"select{args.tag}.md").write_text(markdown(report), encoding="utf-8")
    print(f"-> {RESULTS / f'select{args.tag}.md'}")


if __name__ == "__main__":
    main()
