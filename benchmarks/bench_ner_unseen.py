"""Title entity tagging on titles the tagger has never seen: the Taobao title NER data de-duplicated by title
(query/ner_splits.py), the tagger that `tiderec query build` makes, alone and through the whole query path
(normalisation, tagger + lexicon, price and negation spans, tidy rules: query/reader.py).

Usage:
  .venv/bin/python -m benchmarks.bench_ner_unseen [--threads 1] [--build]
Protocol: the tagger is trained on the distinct training titles minus a tenth held out by title (validation; its
epoch is picked there). The way tagger and lexicon combine (reader.MERGES) is chosen on validation data only: the
mean of (validation titles: mean F1 of product words and brands) and (query suite dev half: entity F1, all types);
the distinct dev titles that are not in train.txt are then scored once, for the tagger
alone, the whole path with the chosen combination, and two dictionary baselines. `--build` builds the tagger first
(query/build.py, into runs/query/tagger); otherwise the one there is used. Latency: one text at a time through the
whole `understand` path (intent included), Chinese texts of up to 64 characters (Multi-CPR search queries and dev
titles) and longer ones (two to four dev titles joined). Writes benchmarks/results/ner_unseen.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.bench_models import RESULTS, git_commit
from tiderec.errors import DatasetError
from tiderec.ingest.datasets import data_root
from tiderec.query.build import QUERY_ARTEFACTS, TaggerBuild, build_tagger, load_tagger
from tiderec.query.entities import Lexicon
from tiderec.query.intent import read_intents
from tiderec.query.ner import TYPES, Dictionary, Gazetteer, Sentence, Span, TrainedTagger, prf, read_dictionaries
from tiderec.query.ner import spans as bio_spans
from tiderec.query.ner_splits import TitleSplits, title_splits
from tiderec.query.reader import MERGES, ConstraintReader
from tiderec.query.suite import SuiteCase, read_suite
from tiderec.query.understand import QueryUnderstander, intent_model

TAGGER = QUERY_ARTEFACTS / "tagger"
INTENT = QUERY_ARTEFACTS / "intent"
SUITE = Path(__file__).resolve().parent / "data" / "query_suite.jsonl"
TARGET_TYPES = ("HCCX", "HPPX")
TAG_OF = {v: k for k, v in TYPES.items()}
"""Query entity type -> title NER type (product -> HCCX, brand -> HPPX, model -> XH, attribute -> MISC)."""


def path_spans(reader: ConstraintReader, sentences: list[Sentence]) -> list[list[Span]]:
    """Entity spans the whole query path reads from each title, in title NER types."""
    return [[(e.start, e.end, TAG_OF[e.type]) for e in reader.read("".join(s.chars)).entities] for s in sentences]


def suite_entity_f1(reader: ConstraintReader, cases: list[SuiteCase]) -> float:
    """Entity F1 (all types) of the reader on annotated queries."""
    pred = [[(e.start, e.end, e.type) for e in reader.read(c.text).entities] for c in cases]
    return round(prf([c.entities for c in cases], pred)["all"]["f1"], 6)


def mean_target(scores: dict[str, dict[str, float]]) -> float:
    return round(float(np.mean([scores.get(t, {"f1": 0.0})["f1"] for t in TARGET_TYPES])), 6)


def latency_ms(understander: QueryUnderstander, texts: list[str]) -> dict[str, float]:
    """p50/p99 milliseconds of understanding one text at a time (after a warm-up pass)."""
    for text in texts[:20]:
        understander.understand([text])
    times = []
    for text in texts:
        begin = time.perf_counter()
        understander.understand([text])
        times.append((time.perf_counter() - begin) * 1000)
    return {"texts": len(texts), "p50": round(float(np.percentile(times, 50)), 2),
            "p99": round(float(np.percentile(times, 99)), 2), "max": round(max(times), 2)}  # fmt: skip


def _f1s(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: round(scores[k]["f1"], 4) for k in ("HCCX", "HPPX", "XH", "MISC", "all") if k in scores}


def _texts(splits: TitleSplits) -> dict[str, list[str]]:
    rng = np.random.default_rng(2)
    rows = read_intents(data_root() / "queries" / "intents.dev.jsonl")
    queries = [r.text for r in rows if r.lang == "zh" and r.intent == "search" and len(r.text) <= 64]
    titles = ["".join(s.chars) for s in splits.dev]
    short = [queries[i] for i in rng.permutation(len(queries))[:250]] + [t for t in titles if len(t) <= 64][:250]
    joined = ["".join(titles[i : i + 2 + i % 3]) for i in range(0, 300, 3)]
    return {"chinese, up to 64 characters": short, "chinese, 65+ characters (titles joined)": joined}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--build", action="store_true", help="build the tagger into runs/query/tagger first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = data_root() / "text-zh" / "taobao-title-ner"
    splits = title_splits(folder)
    if args.build:
        build_tagger(TAGGER, TaggerBuild(threads=args.threads))
    tagger = load_tagger(TAGGER)
    if tagger is None:
        raise DatasetError(f"{TAGGER}: no tagger; build it with `tiderec query build`")
    build = json.loads((TAGGER / "build.json").read_text(encoding="utf-8"))
    valid_gold = [bio_spans(s.tags) for s in splits.valid]
    on_valid = {"tagger alone": prf(valid_gold, tagger.predict([s.chars for s in splits.valid]))}
    for merge in MERGES:
        on_valid[f"query path, {merge}"] = prf(valid_gold, path_spans(ConstraintReader(Lexicon.of(), tagger, merge),
                                                                      splits.valid))  # fmt: skip
    suite_dev = [c for c in read_suite(SUITE) if c.split == "dev"]
    on_suite = {m: suite_entity_f1(ConstraintReader(Lexicon.of(), tagger, m), suite_dev) for m in MERGES}
    criterion = {m: round((mean_target(on_valid[f"query path, {m}"]) + on_suite[m]) / 2, 6) for m in MERGES}
    merge = max(MERGES, key=lambda m: criterion[m])
    results = dev_scores(splits, tagger, merge)
    understander = QueryUnderstander(intent_model(INTENT, threads=args.threads), Lexicon.of(), tagger, merge)
    latency = {name: latency_ms(understander, texts) for name, texts in _texts(splits).items()}
    lexicon = read_dictionaries(data_root() / "text-zh" / "ecommerce-ner-dicts")
    meta = {
        "command": f"python -m benchmarks.bench_ner_unseen --threads {args.threads}"
        + (" --build" if args.build else ""),
        "protocol": "titles de-duplicated; validation held out by title picks the tagger's epoch; the tagger + "
        f"lexicon combination is picked by the mean of validation-title mean F1 of {' + '.join(TARGET_TYPES)} and "
        "query-suite dev entity F1; dev titles not in train.txt scored once",
        "data": splits.describe() + f"; lexicon flags from ecommerce-ner-dicts ({len(lexicon.get('HPPX', ()))} "
        f"brands, {len(lexicon.get('HCCX', ()))} products) plus training entities",
        "types": TYPES,
        "tagger_build": {k: build[k] for k in ("version", "build", "data", "train_seconds", "validation_f1_per_epoch")},
        "validation_f1_per_type": {name: _f1s(s) for name, s in on_valid.items()},
        "query_suite_dev_entity_f1_by_combination": on_suite,
        "combination_criterion": criterion,
        "chosen_combination": merge,
        "latency_ms_per_query_whole_path": latency,
        "device": f"CPU ({args.threads} threads); {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write(meta, results)


def dev_scores(splits: TitleSplits, tagger: TrainedTagger, merge: str) -> dict[str, dict[str, dict[str, float]]]:
    """The one scoring of the unseen dev titles: tagger alone, whole path, dictionary baselines."""
    gold = [bio_spans(s.tags) for s in splits.dev]
    training = splits.train + splits.valid
    known = Dictionary(training)
    lexicon = read_dictionaries(data_root() / "text-zh" / "ecommerce-ner-dicts")
    both = Gazetteer.of(training, lexicon)
    flags = "lexicon and word flags" if tagger.words else "lexicon flags"
    if tagger.e5_layer:
        flags += f", e5 layer {tagger.e5_layer} states"
    return {
        f"tagger alone ({len(tagger.models)} BiLSTM-CRF, {flags})": prf(
            gold, tagger.predict([s.chars for s in splits.dev])
        ),
        f"whole query path ({merge})": prf(gold, path_spans(ConstraintReader(Lexicon.of(), tagger, merge), splits.dev)),
        "dictionary (training entities)": prf(gold, [known.tag(s.chars) for s in splits.dev]),
        "dictionary (training entities + word lists)": prf(gold, [both.longest_match(s.chars) for s in splits.dev]),
    }


def write(meta: dict[str, Any], results: dict[str, dict[str, dict[str, float]]]) -> None:
    """benchmarks/results/ner_unseen.json and .md (settings, then one row per tagger and type)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ner_unseen.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False) + "\n"
    )
    lines = ["# Title entity tagging on unseen titles (Taobao title NER, de-duplicated)", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| tagger | type | support | precision | recall | F1 |", "|---|---|---:|---:|---:|---:|"]
    for name, res in results.items():
        for kind in ("HCCX", "HPPX", "XH", "MISC", "all"):
            r = res.get(kind)
            if r is not None:
                lines.append(
                    f"| {name} | {kind} ({TYPES.get(kind, 'all')}) | {r['support']:.0f} | {r['precision']:.4f} | "
                    f"{r['recall']:.4f} | {r['f1']:.4f} |"
                )
    text = "\n".join(lines) + "\n"
    (RESULTS / "ner_unseen.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
