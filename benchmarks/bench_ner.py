"""Entity tagging on the Taobao title NER dev split: the character BiLSTM tagger against dictionary matching
(every entity string of the training data), entity-level precision/recall/F1 per type.

Usage:
  .venv/bin/python -m benchmarks.bench_ner [--epochs 15] [--threads 2]
The tagger trains on train.txt minus a tenth held out to pick the epoch; dev.txt is scored once.
Writes benchmarks/results/ner.{json,md}; the tagger goes to runs/query/tagger (used by tiderec query).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench_models import RESULTS, git_commit
from tiderec.ingest.datasets import data_root
from tiderec.query.ner import TYPES, Dictionary, prf, read_bio, spans, train_tagger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = data_root() / "text-zh" / "taobao-title-ner"
    train_all, dev = read_bio(folder / "train.txt"), read_bio(folder / "dev.txt")
    held = np.random.default_rng(0).random(len(train_all)) < 0.1
    train = [s for s, h in zip(train_all, held, strict=True) if not h]
    valid = [s for s, h in zip(train_all, held, strict=True) if h]
    start = time.perf_counter()
    tagger, history = train_tagger(train, valid, epochs=args.epochs)
    seconds = time.perf_counter() - start
    tagger.save(Path("runs/query/tagger"))
    gold = [spans(s.tags) for s in dev]
    results = {
        "tiderec (char BiLSTM)": prf(gold, tagger.predict([s.chars for s in dev])),
        "dictionary (training entities)": prf(gold, [Dictionary(train_all).tag(s.chars) for s in dev]),
    }
    meta = {
        "command": f"python -m benchmarks.bench_ner --epochs {args.epochs} --threads {args.threads}",
        "data": f"taobao-title-ner: train {len(train)} + {len(valid)} held out, dev {len(dev)} sentences",
        "types": TYPES,
        "validation_f1_per_epoch": [round(h, 4) for h in history],
        "train_seconds": round(seconds, 1),
        "device": f"CPU ({args.threads} threads); {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ner.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False) + "\n"
    )
    lines = ["# Product-title entity tagging (Taobao title NER, dev split)", ""] + [
        f"- {k}: {v}" for k, v in meta.items()
    ]
    lines += ["", "| tagger | type | support | precision | recall | F1 |", "|---|---|---:|---:|---:|---:|"]
    for name, res in results.items():
        for kind in ("HCCX", "HPPX", "XH", "MISC", "all"):
            r = res.get(kind)
            if r is not None:
                label = f"{kind} ({TYPES.get(kind, 'all')})"
                lines.append(
                    f"| {name} | {label} | {r['support']:.0f} | {r['precision']:.4f} | {r['recall']:.4f} | "
                    f"{r['f1']:.4f} |"
                )
    text = "\n".join(lines) + "\n"
    (RESULTS / "ner.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
