"""Entity tagging on the Taobao title NER dev split: the character tagger (BiLSTM + CRF, char bigrams, brand/product
lexicon flags) against dictionary matching, entity-level precision/recall/F1 per type.

Usage:
  .venv/bin/python -m benchmarks.bench_ner [--epochs 40] [--patience 8] [--threads 2]
The tagger trains on train.txt minus a tenth held out to pick the epoch (and to stop early); dev.txt is scored once.
The lexicon flags come from the ecommerce-ner-dicts brand/product word lists plus the training entities (never
dev's). Writes benchmarks/results/ner.{json,md}; the tagger goes to runs/query/tagger (used by tiderec query).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench_models import RESULTS, git_commit
from tiderec.ingest.datasets import data_root
from tiderec.query.ner import (
    TYPES,
    Dictionary,
    Gazetteer,
    TrainConfig,
    prf,
    read_bio,
    read_dictionaries,
    spans,
    train_tagger,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--patience", type=int, default=TrainConfig().patience)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = replace(TrainConfig(), epochs=args.epochs, patience=args.patience)
    folder = data_root() / "text-zh" / "taobao-title-ner"
    train_all, dev = read_bio(folder / "train.txt"), read_bio(folder / "dev.txt")
    lexicon = read_dictionaries(data_root() / "text-zh" / "ecommerce-ner-dicts")
    held = np.random.default_rng(0).random(len(train_all)) < 0.1
    train = [s for s, h in zip(train_all, held, strict=True) if not h]
    valid = [s for s, h in zip(train_all, held, strict=True) if h]
    start = time.perf_counter()
    tagger, history = train_tagger(train, valid, config, lexicon)
    seconds = time.perf_counter() - start
    tagger.save(Path("runs/query/tagger"))
    on_valid = prf([spans(s.tags) for s in valid], tagger.predict([s.chars for s in valid]))
    gold = [spans(s.tags) for s in dev]
    known, both = Dictionary(train_all), Gazetteer.of(train_all, lexicon)
    results = {
        "tiderec (char BiLSTM-CRF + lexicon flags)": prf(gold, tagger.predict([s.chars for s in dev])),
        "dictionary (training entities)": prf(gold, [known.tag(s.chars) for s in dev]),
        "dictionary (training entities + word lists)": prf(gold, [both.longest_match(s.chars) for s in dev]),
    }
    meta = {
        "command": f"python -m benchmarks.bench_ner --epochs {args.epochs} --patience {args.patience} "
        f"--threads {args.threads}",
        "data": f"taobao-title-ner: train {len(train)} + {len(valid)} held out, dev {len(dev)} sentences; lexicon "
        f"ecommerce-ner-dicts ({len(lexicon.get('HPPX', ()))} brands, {len(lexicon.get('HCCX', ()))} products)",
        "types": TYPES,
        "config": asdict(config),
        "validation_f1_per_epoch": [round(h, 4) for h in history],
        "validation_f1_per_type": {k: round(v["f1"], 4) for k, v in on_valid.items()},
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
