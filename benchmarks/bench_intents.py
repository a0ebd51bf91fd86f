"""Intent recognition on ../shared/data/queries/intents.dev.jsonl: 5-fold stratified cross-validation
(folds fixed by seed 0), accuracy and macro-F1 per language, the confusion matrix, and the same with only 20
training examples per intent.

Usage:
  .venv/bin/python -m benchmarks.bench_intents [--encoder use] [--threads 2]
Writes benchmarks/results/intents.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, git_commit
from tiderec.ingest.datasets import data_root
from tiderec.query.build import QUERY_ARTEFACTS, load_tagger
from tiderec.query.entities import Lexicon
from tiderec.query.intent import IntentModel, read_intents
from tiderec.query.reader import ConstraintReader
from tiderec.query.softmax import fit_softmax
from tiderec.query.understand import QueryUnderstander, decide
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig

FOLDS = 5


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


def evaluate(
    vectors: np.ndarray,
    labels: list[str],
    langs: list[str],
    per_intent: int | None,
    after: Callable[[int, str], str] | None = None,
) -> dict[str, Any]:
    """Cross-validated accuracy, macro-F1 and confusion per language; `after(row, label)` (the query path's intent
    rules) may change each prediction."""
    folds = folds_of(labels)
    pred = [""] * len(labels)
    rng = np.random.default_rng(1)
    for f in range(FOLDS):
        train = np.flatnonzero(folds != f)
        if per_intent is not None:
            train = np.concatenate([
                rng.choice(train[np.array([labels[i] for i in train]) == c], size=per_intent, replace=False)
                for c in sorted(set(labels))
            ])  # fmt: skip
        model = fit_softmax(vectors[train], [labels[i] for i in train], calibrate=0.0 if per_intent else 0.1)
        test = np.flatnonzero(folds == f)
        probs = model.probabilities(vectors[test])
        for row, i in enumerate(test):
            label = model.classes[int(np.argmax(probs[row]))]
            pred[i] = label if after is None else after(int(i), label)
    out: dict[str, Any] = {}
    for lang in sorted(set(langs)):
        rows = [i for i, g in enumerate(langs) if g == lang]
        truth, guess = [labels[i] for i in rows], [pred[i] for i in rows]
        classes = sorted(set(truth))
        pairs = list(zip(truth, guess, strict=True))
        confusion = {t: {p: pairs.count((t, p)) for p in sorted(set(labels))} for t in classes}
        out[lang] = {
            "rows": len(rows),
            "accuracy": float(np.mean([a == b for a, b in zip(truth, guess, strict=True)])),
            "macro_f1": macro_f1(truth, guess, classes),
            "confusion": confusion,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="use")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = read_intents(data_root() / "queries" / "intents.dev.jsonl")
    encoder = load_encoder(EncoderConfig(name=args.encoder, threads=args.threads))
    start = time.perf_counter()
    vectors = encoder.encode_queries([r.text for r in rows], progress=True)
    encode_s = time.perf_counter() - start
    labels, langs = [r.intent for r in rows], [r.lang for r in rows]
    tagger = load_tagger(QUERY_ARTEFACTS / "tagger")
    readings = [ConstraintReader(Lexicon.of(), tagger).read(r.text) for r in rows]

    def rules(i: int, label: str) -> str:
        found = readings[i]
        return decide(label, found.norm.text, found.price is not None or bool(found.negations), found.entities)

    results: dict[str, Any] = {
        "all training rows": evaluate(vectors, labels, langs, None),
        "20 per intent": evaluate(vectors, labels, langs, 20),
        "all training rows + query-path rules": evaluate(vectors, labels, langs, None, rules),
    }
    understander = QueryUnderstander(IntentModel(encoder, fit_softmax(vectors, labels)), Lexicon.of())
    sample = [rows[i].text for i in np.random.default_rng(2).permutation(len(rows))[:500]]
    times = []
    for text in sample:
        begin = time.perf_counter()
        understander.understand([text])
        times.append((time.perf_counter() - begin) * 1000)
    results["latency_ms_per_query"] = {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}
    meta = {
        "command": f"python -m benchmarks.bench_intents --encoder {args.encoder} --threads {args.threads}",
        "data": f"intents.dev.jsonl ({len(rows)} rows); labels from each text's source (see SOURCES.md)",
        "protocol": f"{FOLDS}-fold cross-validation stratified by intent (seed 0); softmax regression on "
        f"{encoder.version} vectors, L2 1e-3",
        "rules": "query-path rules (understand.decide: purchase cues, price/negation, comparison words) applied to "
        "the cross-validated predictions, with constraints read by the query path"
        + (" (with the built tagger)" if tagger is not None else " (lexicon only: no tagger built)"),
        "encode_seconds": round(encode_s, 1),
        "device": f"CPU ({args.threads} threads); {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "intents.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = ["# Intent recognition", ""] + [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| training | language | rows | accuracy | macro-F1 |", "|---|---|---:|---:|---:|"]
    for setting in ("all training rows", "20 per intent", "all training rows + query-path rules"):
        for lang, r in results[setting].items():
            lines.append(f"| {setting} | {lang} | {r['rows']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} |")
    for lang, r in results["all training rows"].items():
        classes = list(next(iter(r["confusion"].values())))
        lines += ["", f"Confusion ({lang}, all training rows; rows = truth, columns = prediction):", ""]
        lines += ["| truth \\ predicted | " + " | ".join(classes) + " |", "|---|" + "---:|" * len(classes)]
        lines += [f"| {t} | " + " | ".join(str(v) for v in row.values()) + " |" for t, row in r["confusion"].items()]
    lat = results["latency_ms_per_query"]
    lines += ["", f"Per query (intent + entities + price + negations, one at a time, {args.threads} threads): "
              f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms."]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (RESULTS / "intents.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
