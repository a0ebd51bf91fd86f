"""The annotated shopper-query suite (benchmarks/data/query_suite.jsonl, 314 queries written for tiderec: Chinese,
English and mixed, with brands and model numbers, prices in 元/¥/$/£/k/万, negations, emoji, zero-width and
full-width characters) through the whole `tiderec query` path: intent accuracy, price exact, negation exact, entity
precision/recall/F1 per type, and whether every README example is read right.

Usage:
  .venv/bin/python -m benchmarks.bench_query_suite --split dev|test [--threads 1]
Protocol: the rules were chosen on the dev half and the pools' cross-validated predictions (bench_intents), never
on the test half; the test half is scored once. The artefacts are the ones
`tiderec query build` makes (runs/query/intent, runs/query/tagger).
Writes benchmarks/results/query_suite_<split>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from benchmarks.bench_models import RESULTS, git_commit
from tiderec.errors import DatasetError
from tiderec.query.build import QUERY_ARTEFACTS, load_tagger
from tiderec.query.entities import Lexicon
from tiderec.query.suite import SPLITS, mistakes, read_suite, score
from tiderec.query.understand import QueryUnderstander, intent_model

SUITE = Path(__file__).resolve().parent / "data" / "query_suite.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=SPLITS, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tagger = load_tagger(QUERY_ARTEFACTS / "tagger")
    if tagger is None:
        raise DatasetError(f"{QUERY_ARTEFACTS / 'tagger'}: no tagger; build it with `tiderec query build`")
    understander = QueryUnderstander(
        intent_model(QUERY_ARTEFACTS / "intent", threads=args.threads), Lexicon.of(), tagger
    )
    built = QUERY_ARTEFACTS / "tagger" / "build.json"
    recipe = json.loads(built.read_text(encoding="utf-8")) if built.is_file() else None
    cases = [c for c in read_suite(SUITE) if c.split == args.split]
    results = understander.understand([c.text for c in cases])
    by_lang = {lang: score([c for c in cases if c.lang == lang], [r for c, r in zip(cases, results, strict=True)
                                                                   if c.lang == lang])
               for lang in sorted({c.lang for c in cases})}  # fmt: skip
    readme = {c.text: mistakes(c, r) or "right" for c, r in zip(cases, results, strict=True) if c.readme}
    wrong = {c.id: f"{c.text!r}: " + "; ".join(m) for c, r in zip(cases, results, strict=True) if (m := mistakes(c, r))}
    meta = {
        "command": f"python -m benchmarks.bench_query_suite --split {args.split} --threads {args.threads}",
        "protocol": "rules chosen on the dev half and the pools' cross-validated predictions (bench_intents); "
        "the test half scored once",
        "data": f"benchmarks/data/query_suite.jsonl, {args.split} half: {len(cases)} queries",
        "artefacts": f"{QUERY_ARTEFACTS}/intent, {QUERY_ARTEFACTS}/tagger (tiderec query build)",
        "tagger": "no build record"
        if recipe is None
        else f"build recipe {recipe['version']}: "
        f"{len(recipe['validation_f1_per_epoch'])} member(s), "
        f"{', '.join(str(len(h)) for h in recipe['validation_f1_per_epoch'])} epochs run "
        f"({recipe['build']['train']['epochs']} at most), dropout "
        f"{recipe['build']['train']['model']['dropout']}; validation F1 {recipe['validation_f1_per_type']['all']}",
        "device": f"CPU ({args.threads} threads); {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write(args.split, meta, score(cases, results), by_lang, readme, wrong)


def write(
    split: str,
    meta: dict[str, Any],
    overall: dict[str, Any],
    by_lang: dict[str, dict[str, Any]],
    readme: dict[str, Any],
    wrong: dict[str, str],
) -> None:
    """benchmarks/results/query_suite_<split>.json and .md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "overall": overall, "by_language": by_lang, "readme_examples": readme, "mistakes": wrong}
    (RESULTS / f"query_suite_{split}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    lines = [f"# Shopper-query suite, {split} half (whole `tiderec query` path)", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| queries | language | intent accuracy | price exact | negation exact | entity F1 | all right |",
              "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, s in [("all", overall), *by_lang.items()]:
        lines.append(f"| {s['queries']} | {name} | {s['intent_accuracy']:.4f} | {s['price_exact']:.4f} | "
                     f"{s['negation_exact']:.4f} | {s['entity_f1'].get('all', {}).get('f1', 0.0):.4f} | "
                     f"{s['all_right']:.4f} |")  # fmt: skip
    lines += ["", "| entity type | support | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
    for kind, r in overall["entity_f1"].items():
        lines.append(f"| {kind} | {r['support']:.0f} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} |")
    lines += ["", "README examples:", ""] + [f"- {text!r}: {verdict}" for text, verdict in readme.items()]
    lines += ["", f"Queries with any mistake ({len(wrong)}):", ""] + [f"- {k}: {v}" for k, v in wrong.items()]
    text = "\n".join(lines) + "\n"
    (RESULTS / f"query_suite_{split}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
