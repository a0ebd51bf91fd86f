"""The two selection steps of a served micro-batch on the 101,888-item catalogue, each against what it replaced,
alternating in one process on one thread (the service's setting):

- each row's best 200: `models.scorer.top_rows` (block maxima first) against `torch.topk` over every column;
- the new-interest shift term: v added item by item from each run interest's members against v gathered over
  every item's interest (`InterestModel._add_shift` with SPARSE_SHIFT 1 and 0).

Rows are the model's own scores for two kinds of windows of 20 events: random items (the load users of
bench_serve, whose runs of new interests cover many interests) and the last 20 events of real test users. Every
timing checks that both sides give the same answer (top-k values; shifted scores bit for bit).

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
from tiderec.models import interest as interest_module
from tiderec.models.interest import InterestModel
from tiderec.models.layers import prefix_histories
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
        encoded = model.encode(items, torch.ones_like(items), torch.ones_like(items))[:, -1]
        next_gaps = np.ones(len(history), np.int64)
        moment = model.at_moment(encoded, torch.from_numpy(next_gaps))
        scores = torch.from_numpy(scorer.score_encoded(encoded.numpy(), history, next_gaps))
        want = torch.topk(scores, KEEP, dim=1).values
        assert torch.equal(top_rows(scores, KEEP)[0], want), "top_rows changed the selection"
        base = model.base_scores(moment, scorer.table)
        select = torch.zeros_like(items, dtype=torch.bool)
        select[:, -1] = True
        prefix, _, in_prefix = prefix_histories(items, select)
        run = model.new_interest_run(prefix, in_prefix)
        codes = model.get_buffer("item_interest")[1:]
        covered = run[:, codes].sum(dim=1).float()  # items each row's run covers

        def shift(sparse: float) -> torch.Tensor:
            interest_module.SPARSE_SHIFT = sparse
            return model._add_shift(base.clone(), prefix, in_prefix)

        assert torch.equal(shift(1.0), shift(0.0)), "the two shift paths differ"
        timings = {
            "topk_ms": median_ms(lambda: torch.topk(scores, KEEP, dim=1), repeats),
            "top_rows_ms": median_ms(lambda: top_rows(scores, KEEP), repeats),
            "shift_per_interest_ms": median_ms(lambda: shift(0.0), repeats),
            "shift_item_by_item_ms": median_ms(lambda: shift(1.0), repeats),
            "clone_ms": median_ms(base.clone, repeats),
        }
        interest_module.SPARSE_SHIFT = 0.05
    for side in ("shift_per_interest_ms", "shift_item_by_item_ms"):
        timings[side] = round(max(timings[side] - timings["clone_ms"], 0.0), 3)  # the copy is not the term's
    out = {k: round(v, 3) for k, v in timings.items() if k != "clone_ms"}
    out["run_items_per_row"] = round(float(covered.mean()), 1)
    out["rows_with_a_run"] = int((covered > 0).sum())
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Selection steps of a served micro-batch, 101,888 items (one thread, medians)",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit {report['commit']}, {report['date']}, {report['machine']}. Model: {report['model']}.",
        "",
        "| windows | rows | items in the run per row | best 200: torch.topk | top_rows | shift: per interest | "
        "item by item |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['windows']} | {r['rows']} | {r['run_items_per_row']:,.0f} | {r['topk_ms']:.2f} ms | "
            f"{r['top_rows_ms']:.2f} ms | {r['shift_per_interest_ms']:.2f} ms | {r['shift_item_by_item_ms']:.2f} ms |"
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
            "Each cell is the median of the repeats on the same rows (the model's scores at one moment). The shift "
            "term's timings leave out the copy of the rows each call starts from. The service adds v item by item "
            f"while the run covers at most {interest_module.SPARSE_SHIFT:.0%} of the catalogue per row "
            "(SPARSE_SHIFT), else per interest; top_rows hands a single row to torch.topk."
        ),
    }
    (RESULTS / f"select{args.tag}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"select{args.tag}.md").write_text(markdown(report), encoding="utf-8")
    print(f"-> {RESULTS / f'select{args.tag}.md'}")


if __name__ == "__main__":
    main()
