"""Served = evaluated: the real service's lists against the batch path's, for the same model and test users.

Usage:
  .venv/bin/python -m benchmarks.bench_parity or5     [--users 0] [--max-minutes 10] [--model DIR] [--threads 2]
  .venv/bin/python -m benchmarks.bench_parity beauty
Trains the interest model with its defaults (under --max-minutes) unless --model names a trained folder for the
same cleaned data, starts `tiderec serve` (SQLite, one worker), posts every leave-one-out test user's history
through POST /v1/events, reads GET /v1/users/{id}/recommendations?k=10&now=<target time> with exploration off,
under (A) exclude_seen=false and (B) exclude_seen=true, and scores both sides with the metric code of `tiderec
evaluate`. Writes benchmarks/results/parity_<dataset>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch

from benchmarks.bench_models import RESULTS, RUNS, device_label, ensure_data, git_commit
from tiderec.evaluation.parity import batch_lists, compare, history_batches, served_lists
from tiderec.models.scorer import TorchScorer
from tiderec.testing.server import TIDEREC, free_port, start_server
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import prepare, save_trained, train_model
from tiderec.train.registry import load_model

SCORINGS = {"A": False, "B": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["or5", "beauty"])
    parser.add_argument("--users", type=int, default=0, help="Test users to compare (0: all).")
    parser.add_argument("--max-minutes", type=float, default=10.0, help="Training budget when no --model is given.")
    parser.add_argument("--model", type=Path, help="A model trained on the same cleaned data.")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    commit = git_commit()
    cleaned = ensure_data(args.dataset, args.threads)
    prepared = prepare(cleaned)
    folder = args.model or RUNS / args.dataset / "parity" / "model"
    if args.model is None:
        train = TrainConfig(max_minutes=args.max_minutes, threads=args.threads, device="cpu")
        trained = train_model(prepared, "tiderec", train, progress=True)
        save_trained(folder, prepared, trained, {})
    saved = load_model(folder)
    max_len = int(saved.manifest["max_len"])
    test = prepared.split.test
    if args.users:
        test = test.take(np.arange(min(args.users, len(test))))
    inter, vocab, n_items = prepared.inter, prepared.cleaned.item_vocab, prepared.inter.n_items
    scorer = TorchScorer("tiderec", saved.model)
    batch = {s: batch_lists(scorer, inter, test, max_len, drop) for s, drop in SCORINGS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "parity.sqlite"
        create = [TIDEREC, "keys", "create", "parity", "--scope", "ingest", "--scope", "read", "--db", str(db)]
        key = subprocess.run(create, capture_output=True, text=True, check=True).stdout.strip()
        port = free_port()
        serve = ["--data", str(cleaned), "--model", str(folder), "--db", str(db), "--no-query", "--workers", "1"]
        proc = start_server([*serve, "--rate-limit", "1000000"], port, timeout=300)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=60) as client:
                posted = time.perf_counter()
                events = 0
                for body in history_batches(inter, test, vocab):
                    client.post("/v1/events", json={"events": body}).raise_for_status()
                    events += len(body)
                post_s = time.perf_counter() - posted

                def fetch(user: str, now: float, exclude_seen: bool, k: int) -> list[str]:
                    params: dict[str, str | int | float] = {
                        "k": k,
                        "now": now,
                        "exclude_seen": str(exclude_seen).lower(),
                    }
                    answer = client.get(f"/v1/users/{user}/recommendations", params=params)
                    answer.raise_for_status()
                    return [i["item_id"] for i in answer.json()["items"]]

                served = {s: served_lists(fetch, test, vocab, drop) for s, drop in SCORINGS.items()}
        finally:
            proc.terminate()
            proc.wait(30)
    results = {s: compare(batch[s], served[s], test.item, n_items).to_dict() for s in SCORINGS}
    meta = {
        "command": "python -m benchmarks.bench_parity " + " ".join(_argv(args)),
        "dataset": args.dataset,
        "users": len(test),
        "events_posted": events,
        "post_seconds": round(post_s, 1),
        "model": str(folder),
        "best_epoch": saved.manifest.get("best_epoch"),
        "neighbour_weight": _buffer(saved.model, "neighbour_weight"),
        "shift_weight": _buffer(saved.model, "shift_weight"),
        "device": device_label("cpu", args.threads),
        "commit": commit,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write(args.dataset, meta, results)


def _buffer(model: torch.nn.Module, name: str) -> float | None:
    """A history term's weight buffer (None: the model has no such term)."""
    return float(model.get_buffer(name)) if name in dict(model.named_buffers()) else None


def _argv(args: argparse.Namespace) -> list[str]:
    out = [args.dataset, "--users", str(args.users), "--threads", str(args.threads)]
    return out + (["--model", str(args.model)] if args.model else ["--max-minutes", f"{args.max_minutes:g}"])


def write(dataset: str, meta: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"parity_{dataset}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = [
        f"# Served = evaluated: {dataset}",
        "",
        f"Command: `{meta['command']}`  ",
        f"Commit {meta['commit']}, {meta['date']}, {meta['device']}. {meta['users']:,} leave-one-out test users; "
        f"{meta['events_posted']:,} history events posted through POST /v1/events in {meta['post_seconds']} s; "
        f"lists read from GET /v1/users/{{id}}/recommendations?k=10&now=<target time> with exploration off. "
        f"Model: the interest model with its defaults (best epoch {meta['best_epoch']}, co-occurrence weight "
        f"{meta['neighbour_weight']}, new-interest shift weight {meta.get('shift_weight')}). Both sides scored by "
        "the metric code of `tiderec evaluate`.",
        "",
        "| scoring | identical top-10 lists | items in common | batch HR@10 | served HR@10 | batch NDCG@10 | "
        "served NDCG@10 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scoring, r in results.items():
        b, s = r["batch"], r["served"]
        name = "(A) seen items kept" if scoring == "A" else "(B) seen items removed"
        lines.append(
            f"| {name} | {r['identical']:.2%} | {r['overlap']:.2%} | {b['hr@10']:.4f} | {s['hr@10']:.4f} | "
            f"{b['ndcg@10']:.4f} | {s['ndcg@10']:.4f} |"
        )
    (RESULTS / f"parity_{dataset}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
