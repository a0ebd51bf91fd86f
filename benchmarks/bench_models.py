"""The interest model against its baselines (and its own ablations) on one dataset, same split, same run.

Usage:
  .venv/bin/python -m benchmarks.bench_models beauty   [--models ...] [--epochs N] [--threads 2]
  .venv/bin/python -m benchmarks.bench_models or5      (Online Retail reference split, text vectors)
  .venv/bin/python -m benchmarks.bench_models taobao   (behaviour types and time: ablation)
Prepares runs/bench/<dataset>/{cleaned,vectors} from ../shared/data when missing, then writes
benchmarks/results/models_<dataset>.{md,json}. Leave-one-out, full ranking, both scorings; model selection
on validation only, each model tested once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from tiderec.clean.pipeline import clean
from tiderec.clean.presets import preset_for
from tiderec.clean.store import write_cleaned
from tiderec.config import to_dict
from tiderec.evaluation.runner import ModelSpec, markdown, score_test
from tiderec.ingest.datasets import load_dataset
from tiderec.ingest.mapping import ReadOptions
from tiderec.text.choose import choose_encoder
from tiderec.text.encode import encode_items
from tiderec.text.encoders import EncoderConfig, load_encoder
from tiderec.text.store import write_vectors
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import prepare, train_model

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = Path("runs/bench")
DATASETS = {
    "beauty": "amazon-beauty",
    "or5": "online-retail-5core",
    "taobao": "taobao-userbehavior",
    "or": "online-retail",
}
NO_TEXT = {"use_text": False}
SPECS: dict[str, list[ModelSpec]] = {
    "beauty": [
        ModelSpec("pop"),
        ModelSpec("markov"),
        ModelSpec("itemknn"),
        ModelSpec("tiderec"),
        ModelSpec("sasrec"),
        ModelSpec("gru4rec"),
    ],
    "or5": [
        ModelSpec("pop"),
        ModelSpec("markov"),
        ModelSpec("itemknn"),
        ModelSpec("tiderec"),
        ModelSpec("tiderec", NO_TEXT, "tiderec without text"),
        ModelSpec("sasrec"),
        ModelSpec("gru4rec"),
    ],
    "taobao": [
        ModelSpec("pop"),
        ModelSpec("markov"),
        ModelSpec("sasrec"),
        ModelSpec("tiderec"),
        ModelSpec("tiderec", {"use_event_types": False}, "tiderec without event types"),
        ModelSpec("tiderec", {"use_time": False}, "tiderec without time"),
        ModelSpec("tiderec", {"use_event_types": False, "use_time": False}, "tiderec without types and time"),
    ],
}


def git_commit() -> str:
    """The checkout's commit (+ '-dirty' with uncommitted changes), for the results' provenance."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def ensure_data(key: str, threads: int) -> Path:
    """runs/bench/<key>/cleaned (and vectors when the catalogue has text), built once."""
    root = RUNS / key
    if not (root / "cleaned" / "manifest.json").is_file():
        ds = load_dataset(DATASETS[key], options=ReadOptions(progress=False))
        result = clean(ds.events, ds.items, preset_for(DATASETS[key]), ds.report)
        write_cleaned(result, root / "cleaned")
        if result.items.frame["title"].drop_nulls().len():
            name, _ = choose_encoder(result.items)
            store, _ = encode_items(
                result.items, load_encoder(EncoderConfig(name=name, threads=threads)), progress=False
            )
            write_vectors(store, root / "vectors")
    return root / "cleaned"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(SPECS))
    parser.add_argument("--models", help="comma-separated labels to run (default: all of the dataset's list)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-minutes", type=float, default=None, help="per model training time limit")
    parser.add_argument("--tag", default="", help="suffix of the results file names")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    folder = ensure_data(args.dataset, args.threads)
    prepared = prepare(folder)
    train_config = TrainConfig(
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        threads=args.threads,
        max_minutes=args.max_minutes,
    )
    wanted = None if args.models is None else {m.strip() for m in args.models.split(",")}
    specs = [s for s in SPECS[args.dataset] if wanted is None or s.title in wanted]
    name = f"models_{args.dataset}{args.tag}"
    commit = git_commit()
    results = []
    for spec in specs:
        start = time.perf_counter()
        trained = train_model(prepared, spec.name, train_config, spec.settings, spec.title, progress=True)
        result = score_test(prepared, trained, train_config.max_len, progress=False)
        results.append(result)
        print(f"{spec.title}: {json.dumps(result.test)} ({time.perf_counter() - start:.0f} s)", flush=True)
        meta = {
            "title": f"Models on {prepared.source} (leave-one-out, full ranking)",
            "command": "python -m benchmarks.bench_models"
            + f" {args.dataset} --epochs {args.epochs} --threads {args.threads}"
            + (f" --batch-size {args.batch_size}" if args.batch_size != 256 else "")
            + (f" --patience {args.patience}" if args.patience != 10 else "")
            + (f" --max-minutes {args.max_minutes:g}" if args.max_minutes is not None else "")
            + (f" --models {args.models}" if args.models else "")
            + (f" --tag {args.tag}" if args.tag else ""),
            "dataset": prepared.source,
            "protocol": prepared.split.protocol,
            "split": dict(prepared.split.info),
            "device": f"CPU ({os.cpu_count()} cores, {args.threads} threads); {platform.platform()}",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": commit,
            "train_config": to_dict(train_config),
            "text": prepared.inputs.text_space,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(
            json.dumps({**meta, "results": [r.to_dict() for r in results]}, indent=2) + "\n", encoding="utf-8"
        )
        (RESULTS / f"{name}.md").write_text(
            markdown(results, meta) + f"\nPeak RSS of the run: {meta['peak_rss_mb']} MB.\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
