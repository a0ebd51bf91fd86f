"""Intent recognition on ../shared/data/queries/intents.dev.jsonl: 5-fold stratified cross-validation
(folds fixed by seed 0), accuracy and macro-F1 per language, the confusion matrix, and the same with only 20
training examples per intent; then the query path's intent rules (understand.decide) on the cross-validated
predictions, and the rule variants (understand.IntentRules) scored on validation data from both sources: the pools'
cross-validated predictions and the query suite's dev half (never its test half).

Usage:
  .venv/bin/python -m benchmarks.bench_intents [--encoder use] [--threads 2] [--tagger runs/query/tagger]
Writes benchmarks/results/intents.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, git_commit
from tiderec.ingest.datasets import data_root
from tiderec.query.build import QUERY_ARTEFACTS, load_tagger
from tiderec.query.entities import Lexicon
from tiderec.query.intent import BROWSE_CUES, UNCERTAIN, Intent, IntentModel, read_intents
from tiderec.query.reader import ConstraintReader, Reading
from tiderec.query.softmax import fit_softmax
from tiderec.query.suite import read_suite
from tiderec.query.understand import BARE_COMPARE, CONSTRAINT_SETS, CUE_SETS, IntentRules, QueryUnderstander, decide
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig

FOLDS = 5
SUITE = Path(__file__).resolve().parent / "data" / "query_suite.jsonl"
GATES = (None, 0.99, 0.95, 0.9, 0.8)
HOLD = 0.01
"""A rule variant qualifies when its pool macro-F1 is within this of the classifier alone in every language."""


def folds_of(labels: list[str], seed: int = 0) -> np.ndarray:
    """int[n]: fold of each row, stratified by label."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=np.int64)
    for label in sorted(set(labels)):
        rows = np.flatnonzero(np.array(labels) == label)
        out[rng.permutation(rows)] = np.arange(len(rows)) % FOLDS
    return out


def macro_f1(truth: list[str], pred: list[str], classes: list[str]) -> float:
    scores = []
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(truth, pred, strict=True))
        fp = sum(t != c and p == c for t, p in zip(truth, pred, strict=True))
        fn = sum(t == c and p != c for t, p in zip(truth, pred, strict=True))
        scores.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(scores))


def cross_validated(vectors: np.ndarray, labels: list[str], per_intent: int | None) -> tuple[list[str], np.ndarray]:
    """(classes, float[n, K]): each row's class probabilities from the model of the fold that held it out."""
    folds = folds_of(labels)
    classes = sorted(set(labels))
    probs = np.zeros((len(labels), len(classes)))
    rng = np.random.default_rng(1)
    for f in range(FOLDS):
        train = np.flatnonzero(folds != f)
        if per_intent is not None:
            train = np.concatenate([
                rng.choice(train[np.array([labels[i] for i in train]) == c], size=per_intent, replace=False)
                for c in classes
            ])  # fmt: skip
        model = fit_softmax(vectors[train], [labels[i] for i in train], calibrate=0.0 if per_intent else 0.1)
        assert list(model.classes) == classes
        test = np.flatnonzero(folds == f)
        probs[test] = model.probabilities(vectors[test])
    return classes, probs


def scores(labels: list[str], langs: list[str], pred: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the true classes) and confusion per language."""
    out: dict[str, Any] = {}
    for lang in sorted(set(langs)):
        rows = [i for i, g in enumerate(langs) if g == lang]
        truth, guess = [labels[i] for i in rows], [pred[i] for i in rows]
        classes = sorted(set(truth))
        pairs = list(zip(truth, guess, strict=True))
        columns = sorted(set(labels) | set(guess))
        confusion = {t: {p: pairs.count((t, p)) for p in columns} for t in classes}
        out[lang] = {
            "rows": len(rows),
            "accuracy": float(np.mean([a == b for a, b in pairs])),
            "macro_f1": macro_f1(truth, guess, classes),
            "confusion": confusion,
        }
    return out


def path_intent(text: str, classes: list[str], probs: np.ndarray, threshold: float = 0.5) -> Intent:
    """IntentModel's decision on one row's probabilities: a search with browse cues is a browse, below the threshold
    'uncertain'."""
    best = int(np.argmax(probs))
    label, confidence = classes[best], float(probs[best])
    if label == "search" and BROWSE_CUES.search(text):
        label = "browse"
    if confidence < threshold:
        label = UNCERTAIN
    return Intent(label, confidence, dict(zip(classes, probs.tolist(), strict=True)))


def ruled(intent: Intent, found: Reading, rules: IntentRules) -> str:
    """The intent after the rules, for one row's IntentModel decision and its reading."""
    return decide(intent, found.norm.text, found.price is not None, bool(found.negations), found.entities, rules)[0]


def variants() -> list[IntentRules]:
    return [IntentRules(c, k, b, g) for c, k, b, g in itertools.product(CUE_SETS, CONSTRAINT_SETS, BARE_COMPARE, GATES)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="use")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tagger", type=Path, default=QUERY_ARTEFACTS / "tagger")
    args = parser.parse_args()
    rows = read_intents(data_root() / "queries" / "intents.dev.jsonl")
    encoder = load_encoder(EncoderConfig(name=args.encoder, threads=args.threads))
    start = time.perf_counter()
    vectors = encoder.encode_queries([r.text for r in rows], progress=True)
    encode_s = time.perf_counter() - start
    labels, langs = [r.intent for r in rows], [r.lang for r in rows]
    tagger = load_tagger(args.tagger)
    reader = ConstraintReader(Lexicon.of(), tagger)
    readings = [reader.read(r.text) for r in rows]
    classes, probs = cross_validated(vectors, labels, None)
    intents = [path_intent(readings[i].norm.text, classes, probs[i]) for i in range(len(rows))]
    few_classes, few = cross_validated(vectors, labels, 20)
    results: dict[str, Any] = {
        "all training rows": scores(labels, langs, [classes[int(np.argmax(p))] for p in probs]),
        "20 per intent": scores(labels, langs, [few_classes[int(np.argmax(p))] for p in few]),
        "all training rows + query-path rules": scores(
            labels, langs, [ruled(t, r, IntentRules()) for t, r in zip(intents, readings, strict=True)]
        ),
    }
    results["rule variants"] = rule_variants(rows, labels, langs, intents, readings, results, encoder, vectors, reader)
    understander = QueryUnderstander(IntentModel(encoder, fit_softmax(vectors, labels)), Lexicon.of())
    sample = [rows[i].text for i in np.random.default_rng(2).permutation(len(rows))[:500]]
    times = []
    for text in sample:
        begin = time.perf_counter()
        understander.understand([text])
        times.append((time.perf_counter() - begin) * 1000)
    results["latency_ms_per_query"] = {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}
    built = args.tagger / "build.json"
    recipe = json.loads(built.read_text(encoding="utf-8")) if built.is_file() else None
    meta = {
        "command": f"python -m benchmarks.bench_intents --encoder {args.encoder} --threads {args.threads} "
        f"--tagger {args.tagger}",
        "data": f"intents.dev.jsonl ({len(rows)} rows); labels from each text's source (see SOURCES.md)",
        "protocol": f"{FOLDS}-fold cross-validation stratified by intent (seed 0); softmax regression on "
        f"{encoder.version} vectors, L2 1e-3",
        "rules": "query-path rules (understand.decide with the default IntentRules) applied to the cross-validated "
        "probabilities through IntentModel's decision (browse cue, 'uncertain' below 0.5), with entities, price and "
        "negations read by the query path",
        "tagger": "none (lexicon only)" if tagger is None else f"{args.tagger}" + (
            "" if recipe is None else f" (build recipe {recipe['version']}: {recipe['build']['train']['epochs']} "
            f"epochs at most, dropout {recipe['build']['train']['model']['dropout']}; validation F1 "
            f"{recipe['validation_f1_per_type']['all']})"),
        "rule variants": f"{len(variants())} IntentRules scored on the pools' cross-validated predictions and the "
        f"query suite's dev half; a variant qualifies when pool macro-F1 is within {HOLD} of the classifier alone "
        "in each language; the best dev-half accuracy among them is chosen",
        "encode_seconds": round(encode_s, 1),
        "device": f"CPU ({args.threads} threads); {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "intents.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    text = markdown(meta, results, args.threads)
    (RESULTS / "intents.md").write_text(text)
    print(text)


def rule_variants(
    rows: list[Any],
    labels: list[str],
    langs: list[str],
    intents: list[Intent],
    readings: list[Reading],
    results: dict[str, Any],
    encoder: Any,
    vectors: np.ndarray,
    reader: ConstraintReader,
) -> dict[str, Any]:
    """Every IntentRules variant: pool macro-F1 per language (cross-validated) and suite dev-half intent accuracy
    (the intent model trained on every pool row, as `tiderec query` trains it); which qualify and which is chosen."""
    cases = [c for c in read_suite(SUITE) if c.split == "dev"]
    model = IntentModel(encoder, fit_softmax(vectors, labels))
    dev_readings = [reader.read(c.text) for c in cases]
    dev_intents = model.predict([r.norm.text for r in dev_readings])
    floor = {lang: r["macro_f1"] - HOLD for lang, r in results["all training rows"].items()}
    scored: list[dict[str, Any]] = []
    for rules in variants():
        pred = [ruled(t, r, rules) for t, r in zip(intents, readings, strict=True)]
        f1 = {}
        for lang in floor:
            truth = [labels[i] for i, g in enumerate(langs) if g == lang]
            f1[lang] = macro_f1(truth, [pred[i] for i, g in enumerate(langs) if g == lang], sorted(set(truth)))
        dev = np.mean([ruled(t, r, rules) == c.intent for t, r, c in zip(dev_intents, dev_readings, cases,
                                                                           strict=True)])  # fmt: skip
        scored.append({"rules": asdict(rules), "pool_macro_f1": {k: round(v, 4) for k, v in f1.items()},
                       "dev_accuracy": round(float(dev), 4),
                       "qualifies": all(f1[lang] >= floor[lang] for lang in f1)})  # fmt: skip
    alone = np.mean([t.label == c.intent for t, c in zip(dev_intents, cases, strict=True)])
    best = max((s for s in scored if s["qualifies"]),
               key=lambda s: (s["dev_accuracy"], sum(s["pool_macro_f1"].values())))  # fmt: skip
    return {"dev_queries": len(cases), "dev_accuracy_classifier_alone": round(float(alone), 4), "chosen": best,
            "default_is_chosen": best["rules"] == asdict(IntentRules()), "variants": scored}  # fmt: skip


def markdown(meta: dict[str, Any], results: dict[str, Any], threads: int) -> str:
    lines = ["# Intent recognition", ""] + [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| training | language | rows | accuracy | macro-F1 |", "|---|---|---:|---:|---:|"]
    for setting in ("all training rows", "20 per intent", "all training rows + query-path rules"):
        for lang, r in results[setting].items():
            lines.append(f"| {setting} | {lang} | {r['rows']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} |")
    for setting in ("all training rows", "all training rows + query-path rules"):
        for lang, r in results[setting].items():
            classes = list(next(iter(r["confusion"].values())))
            lines += ["", f"Confusion ({lang}, {setting}; rows = truth, columns = prediction):", ""]
            lines += ["| truth \\ predicted | " + " | ".join(classes) + " |", "|---|" + "---:|" * len(classes)]
            lines += [
                f"| {t} | " + " | ".join(str(v) for v in row.values()) + " |" for t, row in r["confusion"].items()
            ]
    v = results["rule variants"]
    ranked = sorted(v["variants"], key=lambda s: (not s["qualifies"], -s["dev_accuracy"],
                                                  -sum(s["pool_macro_f1"].values())))  # fmt: skip
    before = IntentRules("broad", "price|negation", "always", None)
    shown = ranked[:12] + [s for s in v["variants"] if s["rules"] == asdict(before)]
    lines += ["", f"Rule variants ({len(v['variants'])}; pool = cross-validated macro-F1, dev = the query suite's "
              f"dev half, {v['dev_queries']} queries; classifier alone on dev: {v['dev_accuracy_classifier_alone']:.4f}"
              "; the last row is the rule set before, broad cues without a gate):", "",
              "| cues | constraints | bare compare is search | gate | pool en | pool zh | dev accuracy | qualifies |",
              "|---|---|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for s in shown:
        r, f1 = s["rules"], s["pool_macro_f1"]
        chosen = " (chosen)" if s is v["chosen"] or s == v["chosen"] else ""
        lines.append(
            f"| {r['cues']} | {r['constraints'].replace('|', ' or ')} | {r['bare_compare']} | {r['gate'] or 'none'} | "
            f"{f1['en']:.4f} | {f1['zh']:.4f} | {s['dev_accuracy']:.4f} | {s['qualifies']}{chosen} |"
        )
    lat = results["latency_ms_per_query"]
    lines += ["", f"Per query (intent + entities + price + negations, one at a time, {threads} threads): "
              f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms."]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
