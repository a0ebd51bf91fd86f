"""Entity tagging on the Taobao title NER dev split: the character tagger (BiLSTM + CRF, char bigrams, brand/product
lexicon flags; a seed ensemble of them) against dictionary matching, entity-level precision/recall/F1 per type.
The dev file as published shares 461 of its 998 titles with train.txt: these figures largely measure seen titles;
benchmarks/bench_ner_unseen.py scores titles the tagger has never seen (the figures the docs cite).

Usage:
  .venv/bin/python -m benchmarks.bench_ner [--epochs 40] [--patience 8] [--members 5] [--threads 1] [--reuse]
Protocol: `--members` taggers train on train.txt minus a tenth held out (validation), each with its own seed (seed,
seed + 1, ...; the seed also draws the out-of-fold lexicon flags) and its epoch picked on validation. The ensemble (the
first k members, decoded by their mean scores or their mean marginals: tagger.DECODES) is the one with the best
validation mean F1 of product words and brands (ties: the smaller k, then scores). dev.txt is scored once, after that
choice, for the chosen ensemble and (for reference, not for any choice) its first member alone. The lexicon flags come
from the ecommerce-ner-dicts brand/product word lists plus the training entities (never dev's). Members are kept in
runs/query/tagger-members (`--reuse` loads one whose saved training settings and split match instead of training it
again); the chosen ensemble goes to runs/query/tagger (used by tiderec query). Tagger latency: one short query at a
time (Chinese Multi-CPR search queries of intents.dev.jsonl). Writes benchmarks/results/ner.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.bench_models import RESULTS, git_commit
from tiderec.ingest.datasets import data_root
from tiderec.query.intent import read_intents
from tiderec.query.ner import (
    TYPES,
    Dictionary,
    Gazetteer,
    Sentence,
    TrainConfig,
    TrainedTagger,
    ensemble,
    prf,
    read_bio,
    read_dictionaries,
    spans,
    train_tagger,
)
from tiderec.query.tagger import DECODES

MEMBERS = Path("runs/query/tagger-members")
TARGET_TYPES = ("HCCX", "HPPX")
"""The types whose validation F1 (mean) picks the ensemble: the ones with an F1 target."""


@dataclass(frozen=True)
class Member:
    """One trained ensemble member with its training record."""

    tagger: TrainedTagger
    config: TrainConfig
    history: list[float]
    seconds: float


def _record(config: TrainConfig, train: list[Sentence], valid: list[Sentence]) -> dict[str, Any]:
    """What a saved member must match to be reused: its training settings and the sizes of its split."""
    return {"config": asdict(config), "n_train": len(train), "n_valid": len(valid)}


def train_member(
    config: TrainConfig,
    train: list[Sentence],
    valid: list[Sentence],
    lexicon: dict[str, set[str]],
    reuse: bool,
) -> Member:
    """Trains (or with `reuse`, loads a matching saved) member into MEMBERS/seed-<seed>."""
    folder, record = MEMBERS / f"seed-{config.seed}", _record(config, train, valid)
    saved = folder / "train.json"
    if reuse and saved.is_file():
        meta = json.loads(saved.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in record} == record:
            return Member(TrainedTagger.load(folder), config, meta["history"], meta["seconds"])
    start = time.perf_counter()
    tagger, history = train_tagger(train, valid, config, lexicon)
    seconds = round(time.perf_counter() - start, 1)
    tagger.save(folder)
    saved.write_text(json.dumps(record | {"history": history, "seconds": seconds}, indent=1), encoding="utf-8")
    return Member(tagger, config, history, seconds)


def pick(scores: dict[tuple[int, str], dict[str, dict[str, float]]]) -> tuple[int, str]:
    """The (size, decode) with the best mean F1 over TARGET_TYPES; on a tie the first in `scores`' order."""
    means = {key: round(float(np.mean([s[t]["f1"] for t in TARGET_TYPES])), 6) for key, s in scores.items()}
    return max(means, key=lambda key: means[key])


def latency_ms(tagger: TrainedTagger, queries: list[str]) -> dict[str, float]:
    """p50/p99 milliseconds of tagging one query at a time (after a warm-up pass)."""
    for text in queries[:20]:
        tagger.predict([list(text)])
    times = []
    for text in queries:
        begin = time.perf_counter()
        tagger.predict([list(text)])
        times.append((time.perf_counter() - begin) * 1000)
    return {"p50": round(float(np.percentile(times, 50)), 2), "p99": round(float(np.percentile(times, 99)), 2)}


def _f1s(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: round(scores[k]["f1"], 4) for k in ("HCCX", "HPPX", "XH", "MISC", "all") if k in scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--patience", type=int, default=TrainConfig().patience)
    parser.add_argument("--members", type=int, default=5, help="ensembles of 1..members are compared on validation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="load members saved by an earlier run with these settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = replace(TrainConfig(), epochs=args.epochs, patience=args.patience)
    folder = data_root() / "text-zh" / "taobao-title-ner"
    train_all, dev = read_bio(folder / "train.txt"), read_bio(folder / "dev.txt")
    lexicon = read_dictionaries(data_root() / "text-zh" / "ecommerce-ner-dicts")
    held = np.random.default_rng(0).random(len(train_all)) < 0.1
    train = [s for s, h in zip(train_all, held, strict=True) if not h]
    valid = [s for s, h in zip(train_all, held, strict=True) if h]
    members = [
        train_member(replace(config, seed=config.seed + k), train, valid, lexicon, args.reuse)
        for k in range(args.members)
    ]
    valid_gold = [spans(s.tags) for s in valid]
    on_valid = {
        (k, how): prf(valid_gold, ensemble([m.tagger for m in members[:k]], how).predict([s.chars for s in valid]))
        for k in range(1, len(members) + 1)
        for how in DECODES
    }
    size, how = pick(on_valid)
    chosen, single = ensemble([m.tagger for m in members[:size]], how), members[0].tagger
    name = f"{size}-seed ensemble, mean {how}"
    chosen.save(Path("runs/query/tagger"))
    gold = [spans(s.tags) for s in dev]
    known, both = Dictionary(train_all), Gazetteer.of(train_all, lexicon)
    results = {
        f"tiderec (char BiLSTM-CRF + lexicon flags, {name})": prf(gold, chosen.predict([s.chars for s in dev])),
        "tiderec single model (first member)": prf(gold, single.predict([s.chars for s in dev])),
        "dictionary (training entities)": prf(gold, [known.tag(s.chars) for s in dev]),
        "dictionary (training entities + word lists)": prf(gold, [both.longest_match(s.chars) for s in dev]),
    }
    rows = read_intents(data_root() / "queries" / "intents.dev.jsonl")
    queries = [r.text for r in rows if r.lang == "zh" and r.intent == "search"]
    queries = [queries[i] for i in np.random.default_rng(2).permutation(len(queries))[:500]]
    latency = {"single model": latency_ms(single, queries), name: latency_ms(chosen, queries)}
    meta = {
        "command": f"python -m benchmarks.bench_ner --epochs {args.epochs} --patience {args.patience} "
        f"--members {args.members} --threads {args.threads}" + (" --reuse" if args.reuse else ""),
        "protocol": f"{args.members} members (seeds {config.seed}..{config.seed + args.members - 1}); epoch per "
        f"member, ensemble size and decode ({', '.join(DECODES)}) picked on validation (best mean F1 of "
        f"{' + '.join(TARGET_TYPES)}); dev scored once after",
        "data": f"taobao-title-ner: train {len(train)} + {len(valid)} held out, dev {len(dev)} sentences; lexicon "
        f"ecommerce-ner-dicts ({len(lexicon.get('HPPX', ()))} brands, {len(lexicon.get('HCCX', ()))} products)",
        "types": TYPES,
        "config": asdict(config),
        "ensemble": {"size": size, "decode": how},
        "validation_f1_per_type_by_ensemble": {f"{k} {h}": _f1s(s) for (k, h), s in on_valid.items()},
        "validation_f1_per_type": _f1s(on_valid[size, how]),
        "validation_f1_per_epoch": [[round(h, 4) for h in m.history] for m in members],
        "train_seconds": [m.seconds for m in members],
        "train_seconds_total": round(sum(m.seconds for m in members), 1),
        "latency_ms_per_short_query": latency,
        "device": f"CPU ({args.threads} threads); {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write(meta, results)


def write(meta: dict[str, Any], results: dict[str, dict[str, dict[str, float]]]) -> None:
    """benchmarks/results/ner.json and ner.md (settings, then one row per tagger and type)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ner.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False) + "\n"
    )
    lines = ["# Product-title entity tagging (Taobao title NER, dev split as published: leaks)", ""] + [
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
