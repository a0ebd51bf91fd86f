"""Online interest-state update cost: events replayed in time order from Online Retail, each one through
`update` (profiles, window, the interest model's forward over the window) and committed to SQLite (WAL).

Usage:
  .venv/bin/python -m benchmarks.bench_interest [--events 100000] [--threads 1]

The model is the interest model trained for one epoch on the reference split (its weights do not change the
cost). Writes benchmarks/results/interest_update.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.bench_models import RESULTS, ensure_data, git_commit
from tiderec.data.space import interest_space
from tiderec.interest.encoder import model_encoder
from tiderec.interest.state import Event, InterestContext, InterestState, initial, update
from tiderec.interest.store import SQLStateStore
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import prepare, train_model


def replay(
    events: list[tuple[str, Event]], context: InterestContext, store: SQLStateStore
) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds per event for update alone and for update + commit."""
    states: dict[str, InterestState] = {}
    upd, total = np.empty(len(events)), np.empty(len(events))
    for i, (user, event) in enumerate(tqdm(events, desc="replay", unit="event", mininterval=5)):
        start = time.perf_counter_ns()
        state = update(states.get(user) or initial(user, context), event, context)
        mid = time.perf_counter_ns()
        store.put(state)
        end = time.perf_counter_ns()
        states[user] = state
        upd[i], total[i] = (mid - start) / 1000, (end - start) / 1000
    return upd, total


def stats(values: np.ndarray) -> dict[str, float]:
    return {"p50_us": float(np.percentile(values, 50)), "p99_us": float(np.percentile(values, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = ensure_data("or5", 2)
    prepared = prepare(folder)
    cfg = TrainConfig(epochs=1, threads=args.threads, max_len=50)
    trained = train_model(prepared, "tiderec", cfg, {}, progress=False)
    inter = prepared.inter
    vectors = prepared.inputs.vectors
    if vectors is None or trained.model is None:
        raise SystemExit("the reference split needs its vector store (runs/bench/or5/vectors) and a neural model")
    model = trained.model
    space = interest_space(prepared.cleaned.items, vectors)
    order = np.argsort(inter.ts, kind="stable")[: args.events]
    ids = inter.item_vocab.ids.to_list()
    users = inter.user_vocab.ids.to_list()
    events = [
        (
            users[inter.user[r]],
            Event(ids[inter.item[r]], int(inter.item[r]), int(inter.ts[r]), int(inter.event_type[r])),
        )
        for r in order
    ]
    results: dict[str, Any] = {}
    for label, encoder in (("profiles + window", None), ("+ interest model forward", model_encoder(model, 50))):
        context = InterestContext(vectors, space.codes, encoder=encoder)
        with tempfile.TemporaryDirectory() as tmp:
            store = SQLStateStore(Path(tmp) / "state.sqlite")
            upd, total = replay(events, context, store)
            results[label] = {"update": stats(upd), "update + commit": stats(total), "users": store.count()}
            store.close()
    meta = {
        "command": f"python -m benchmarks.bench_interest --events {args.events} --threads {args.threads}",
        "dataset": prepared.source,
        "events": len(events),
        "item_vectors": f"{vectors.shape[1]}-d language-model vectors",
        "window": 50,
        "store": "SQLite, WAL, synchronous=NORMAL, one commit per event",
        "device": f"CPU ({args.threads} torch thread(s)); {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "interest_update.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = ["# Interest state: cost per event", ""] + [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| path | update p50 µs | update p99 µs | update + commit p50 µs | update + commit p99 µs |"]
    lines += ["|---|---:|---:|---:|---:|"]
    for label, r in results.items():
        u, c = r["update"], r["update + commit"]
        lines.append(f"| {label} | {u['p50_us']:.0f} | {u['p99_us']:.0f} | {c['p50_us']:.0f} | {c['p99_us']:.0f} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "interest_update.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
