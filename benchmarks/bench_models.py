"""The interest model against its baselines (and its own ablations) on one dataset, same split, same run.

Usage:
  .venv/bin/python -m benchmarks.bench_models beauty   [--models ...] [--epochs N] [--threads 2]
  .venv/bin/python -m benchmarks.bench_models or5      (Online Retail reference split, text vectors)
  .venv/bin/python -m benchmarks.bench_models taobao   (behaviour types and time: ablation)
  .venv/bin/python -m benchmarks.bench_models ml       (MovieLens in the S3-Rec form: never tuned on)
  --extra 'LABEL={"dim": 128}' adds a variant of the project's model (repeatable; e.g. a sweep, or
  '{"text_tuning": "lora"}' to tune MiniLM itself, a GPU job; a "train" key overrides training settings, e.g.
  '{"neighbours": 100, "train": {"ema": 0.995, "seed": 7}}'; a "model" key names another neural model, e.g.
  '{"model": "bsarec", "train": {"seed": 7}}'); --device cuda trains on the GPU. A model with a
  co-occurrence term is also tested with the term off (same weights).
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
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from benchmarks import s3rec_movielens
from tiderec.clean.pipeline import clean
from tiderec.clean.presets import preset_for
from tiderec.clean.store import read_cleaned, write_cleaned
from tiderec.config import resolve_device, to_dict
from tiderec.data.interactions import Interactions
from tiderec.data.space import InterestSpace, interest_space
from tiderec.evaluation.runner import ModelResult, ModelSpec, markdown, score_test
from tiderec.ingest.datasets import amazon_s3rec, data_root, load_dataset
from tiderec.ingest.mapping import ReadOptions
from tiderec.models.interest import InterestModel
from tiderec.text.choose import choose_encoder
from tiderec.text.encode import encode_items
from tiderec.text.encoders import EncoderConfig, load_encoder
from tiderec.text.store import read_vectors, write_vectors
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import Prepared, Trained, prepare, train_model
from tiderec.train.registry import NEURAL_CONFIGS

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = Path("runs/bench")
DATASETS = {
    "beauty": "amazon-beauty",
    "or5": "online-retail-5core",
    "taobao": "taobao-userbehavior",
    "or": "online-retail",
}
ML_FILE = s3rec_movielens.OUT / "ML.txt"
"""Dataset `ml`: MovieLens in the S3-Rec form, written by benchmarks/s3rec_movielens.py when missing and cleaned
with its source's preset, as `tiderec pipeline PATH` reads it."""
NO_TEXT = {"use_text": False}
EVERY_MODEL = [
    ModelSpec("pop"),
    ModelSpec("markov"),
    ModelSpec("itemknn"),
    ModelSpec("tiderec"),
    ModelSpec("sasrec"),
    ModelSpec("bsarec"),
    ModelSpec("gru4rec"),
]
"""The interest model and every baseline, each with its defaults."""
SPECS: dict[str, list[ModelSpec]] = {
    "beauty": EVERY_MODEL,
    "or5": [
        ModelSpec("pop"),
        ModelSpec("markov"),
        ModelSpec("itemknn"),
        ModelSpec("tiderec"),
        ModelSpec("tiderec", NO_TEXT, "tiderec without text"),
        ModelSpec("sasrec"),
        ModelSpec("bsarec"),
        ModelSpec("gru4rec"),
    ],
    "ml": EVERY_MODEL,
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
    """The checkout's commit (+ '-dirty' with uncommitted changes), for the results' provenance; a copy without
    git history (a lent GPU machine) names it in $TIDEREC_COMMIT."""
    if os.environ.get("TIDEREC_COMMIT"):
        return os.environ["TIDEREC_COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def extra_specs(extras: list[str]) -> list[tuple[ModelSpec, dict[str, Any]]]:
    """ModelSpecs from LABEL=JSON settings (the project's model unless the JSON's "model" key names another
    neural model), each with its training overrides (the JSON's "train" key, e.g. {"train": {"ema": 0.995}})."""
    specs = []
    for extra in extras:
        label, sep, settings = extra.partition("=")
        if not sep or not label.strip():
            raise SystemExit(f"--extra {extra!r}: expected LABEL=JSON, e.g. 'tiderec dim 128={{\"dim\": 128}}'")
        try:
            parsed = json.loads(settings)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"--extra {label}: settings are not JSON ({exc})") from None
        model = parsed.pop("model", "tiderec")
        if model not in NEURAL_CONFIGS:
            raise SystemExit(f"--extra {label}: model {model!r} is not one of {list(NEURAL_CONFIGS)}")
        train = parsed.pop("train", {})
        unknown = sorted(set(train) - {f.name for f in fields(TrainConfig)})
        if unknown:
            raise SystemExit(f"--extra {label}: unknown train settings {unknown}")
        specs.append((ModelSpec(model, parsed, label.strip()), train))
    return specs


def without_neighbours(prepared: Prepared, trained: Trained) -> ModelResult:
    """The same trained interest model tested with its co-occurrence term off: the term's own contribution."""
    assert isinstance(trained.model, InterestModel)
    weight = trained.model.get_buffer("neighbour_weight")
    chosen = float(weight)
    weight.fill_(0.0)
    try:
        result = score_test(prepared, trained, progress=False)
    finally:
        weight.fill_(chosen)
    result.label = f"{trained.name}, co-occurrence term off (same weights)"
    result.valid = None
    result.neighbour_weight = 0.0
    return result


def device_label(device: str, threads: int) -> str:
    """Where the models trained, for the results' provenance."""
    cpu = f"{os.cpu_count()} CPU cores, {threads} threads"
    if device == "cuda":
        return f"CUDA {torch.cuda.get_device_name()} (torch {torch.__version__}; {cpu}); {platform.platform()}"
    return f"CPU ({cpu}); {platform.platform()}"


def ensure_data(key: str, threads: int) -> Path:
    """runs/bench/<key>/cleaned (and vectors when the catalogue has text), built once."""
    root = RUNS / key
    if not (root / "cleaned" / "manifest.json").is_file():
        options = ReadOptions(progress=False)
        if key == "ml":
            if not ML_FILE.is_file():
                s3rec_movielens.prepare(data_root() / "movielens-latest-small", ML_FILE.parent)
            ds = amazon_s3rec.load(ML_FILE, options)
        else:
            ds = load_dataset(DATASETS[key], options=options)
        result = clean(ds.events, ds.items, preset_for(ds.events.meta.get("source")), ds.report)
        write_cleaned(result, root / "cleaned")
        if result.items.frame["title"].drop_nulls().len():
            name, _ = choose_encoder(result.items)
            store, _ = encode_items(
                result.items, load_encoder(EncoderConfig(name=name, threads=threads)), progress=False
            )
            write_vectors(store, root / "vectors")
    return root / "cleaned"


def with_interests(key: str) -> tuple[Interactions, InterestSpace]:
    """The prepared dataset's interactions and its interest space (text vectors read when it has them), as the
    dynamics benchmarks read it."""
    folder = ensure_data(key, 2)
    cleaned = read_cleaned(folder)
    inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
    vectors = None
    if (folder.parent / "vectors" / "manifest.json").is_file():
        vectors, _ = read_vectors(folder.parent / "vectors").aligned(cleaned.item_vocab.ids)
    return inter, interest_space(cleaned.items, vectors)


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
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--eval-batch-size", type=int, default=512, help="users per validation batch")
    parser.add_argument(
        "--valid-scoring", choices=("A", "B", "auto"), default="auto", help="scoring early stopping watches"
    )
    parser.add_argument("--exclude-seen", action="store_true", help="train with seen items out of the softmax")
    parser.add_argument("--extra", action="append", default=[], help="LABEL=JSON: a variant of tiderec to add")
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
        device=args.device,
        eval_batch_size=args.eval_batch_size,
        valid_scoring=args.valid_scoring,
        exclude_seen=args.exclude_seen,
    )
    wanted = None if args.models is None else {m.strip() for m in args.models.split(",")}
    chosen = [s for s in SPECS[args.dataset] if wanted is None or s.title in wanted]
    specs: list[tuple[ModelSpec, dict[str, Any]]] = [(s, {}) for s in chosen] + extra_specs(args.extra)
    name = f"models_{args.dataset}{args.tag}"
    commit = git_commit()
    results = []
    for spec, train_overrides in specs:
        start = time.perf_counter()
        config = replace(train_config, **train_overrides)
        trained = train_model(prepared, spec.name, config, spec.settings, spec.title, progress=True)
        result = score_test(prepared, trained, progress=False)
        results.append(result)
        print(f"{spec.title}: {json.dumps(result.test)} ({time.perf_counter() - start:.0f} s)", flush=True)
        picks = [f"({trained.train_config.valid_scoring})"]
        if result.ema_decay is not None:
            picks.append("EMA weights" if result.ema_decay else "raw weights")
        if result.neighbour_weight is not None:
            picks.append(f"co-occurrence weight {result.neighbour_weight:g}")
        result.label = f"{spec.title} ({', '.join(picks)})"
        if result.neighbour_weight:
            results.append(without_neighbours(prepared, trained))
        meta = {
            "title": f"Models on {prepared.source} (leave-one-out, full ranking)",
            "command": "python -m benchmarks.bench_models"
            + f" {args.dataset} --epochs {args.epochs} --threads {args.threads}"
            + (f" --batch-size {args.batch_size}" if args.batch_size != 256 else "")
            + (f" --patience {args.patience}" if args.patience != 10 else "")
            + (f" --max-minutes {args.max_minutes:g}" if args.max_minutes is not None else "")
            + (f" --models '{args.models}'" if args.models is not None else "")
            + (f" --tag {args.tag}" if args.tag else "")
            + (f" --device {args.device}" if args.device != "auto" else "")
            + (f" --eval-batch-size {args.eval_batch_size}" if args.eval_batch_size != 512 else "")
            + (f" --valid-scoring {args.valid_scoring}" if args.valid_scoring != "auto" else "")
            + (" --exclude-seen" if args.exclude_seen else "")
            + "".join(f" --extra '{e}'" for e in args.extra),
            "dataset": prepared.source,
            "protocol": prepared.split.protocol,
            "split": dict(prepared.split.info),
            "device": device_label(resolve_device(args.device), args.threads),
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
