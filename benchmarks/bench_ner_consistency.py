"""How consistently the Taobao title NER data labels its own entities, and how the tagger does on entity strings it
has and has not seen labelled: the measured reasons behind the unseen-title ceiling of docs/query.md.

Usage:
  .venv/bin/python -m benchmarks.bench_ner_consistency [--threads 1]
Consistency: every string of two or more characters that some distinct title (training or unseen dev) labels as a
type is looked up at every place it occurs in those titles; each occurrence is labelled the same type there, another
type, lies inside or across another labelled span, or is unlabelled. Seen / unseen: the unseen dev titles' mentions
split by whether the training titles label that string as that type somewhere, with the recall of the tagger that
`tiderec query build` made (runs/query/tagger). Writes benchmarks/results/ner_consistency.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import torch

from benchmarks.bench_models import RESULTS, git_commit
from benchmarks.bench_ner_unseen import TAGGER
from tiderec.errors import DatasetError
from tiderec.ingest.datasets import data_root
from tiderec.query.build import load_tagger
from tiderec.query.ner import TYPES, Sentence, Span, spans
from tiderec.query.ner_splits import title_splits

PLACES = ("same type", "another type", "inside or across another span", "unlabelled")


def labelled(sentences: list[Sentence], kind: str) -> set[str]:
    """The strings of two or more characters labelled `kind` somewhere in `sentences`."""
    return {"".join(s.chars[a:b]) for s in sentences for a, b, t in spans(s.tags) if t == kind and b - a >= 2}


def place(found: tuple[int, int], kind: str, gold: list[Span]) -> str:
    """Which of PLACES an occurrence [start, end) of a `kind` string is in a title labelled `gold`."""
    for a, b, t in gold:
        if (a, b) == found:
            return PLACES[0] if t == kind else PLACES[1]
    start, end = found
    return PLACES[2] if any(a < end and start < b for a, b, _ in gold) else PLACES[3]


def consistency(sentences: list[Sentence], kind: str) -> dict[str, Any]:
    """Shares of PLACES over every occurrence of every string labelled `kind` somewhere in `sentences`."""
    strings = labelled(sentences, kind)
    counts: Counter[str] = Counter()
    for s in sentences:
        text, gold = "".join(s.chars), spans(s.tags)
        for w in strings:
            at = text.find(w)
            while at >= 0:
                counts[place((at, at + len(w)), kind, gold)] += 1
                at = text.find(w, at + 1)
    total = sum(counts.values())
    return {"strings": len(strings), "occurrences": total} | {p: round(counts[p] / total, 4) for p in PLACES}


def seen_recall(train: list[Sentence], dev: list[Sentence], predicted: list[list[Span]], kind: str) -> dict[str, Any]:
    """Dev mentions of `kind` split by whether training labels the string as `kind`: count and tagger recall."""
    known = labelled(train, kind)
    rows: dict[str, list[int]] = {"seen in training": [0, 0], "unseen": [0, 0]}
    for s, pred in zip(dev, predicted, strict=True):
        for a, b, t in spans(s.tags):
            if t == kind:
                row = rows["seen in training" if "".join(s.chars[a:b]) in known else "unseen"]
                row[0] += 1
                row[1] += int((a, b, t) in pred)
    return {k: {"mentions": n, "tagger recall": round(hit / max(n, 1), 4)} for k, (n, hit) in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = title_splits(data_root() / "text-zh" / "taobao-title-ner")
    tagger = load_tagger(TAGGER)
    if tagger is None:
        raise DatasetError(f"{TAGGER}: no tagger; build it with `tiderec query build`")
    training = splits.train + splits.valid
    predicted = tagger.predict([s.chars for s in splits.dev])
    results = {
        kind: {
            "consistency": consistency(training + splits.dev, kind),
            "unseen dev titles": seen_recall(training, splits.dev, predicted, kind),
        }
        for kind in TYPES
    }
    meta = {
        "command": f"python -m benchmarks.bench_ner_consistency --threads {args.threads}",
        "data": splits.describe(),
        "tagger": f"{TAGGER} (build version {json.loads((TAGGER / 'build.json').read_text())['version']})",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write(meta, results)


def write(meta: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    """benchmarks/results/ner_consistency.json and .md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ner_consistency.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False) + "\n"
    )
    lines = ["# How consistently the title NER data labels its entities (Taobao title NER, de-duplicated)", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "## Every occurrence of a string the titles label as a type somewhere", ""]
    lines += ["| type | strings | occurrences | " + " | ".join(PLACES) + " |", "|---|" + "---:|" * (2 + len(PLACES))]
    for kind, res in results.items():
        c = res["consistency"]
        lines.append(
            f"| {kind} ({TYPES[kind]}) | {c['strings']} | {c['occurrences']} | "
            + " | ".join(f"{c[p]:.3f}" for p in PLACES)
            + " |"
        )
    lines += ["", "## Unseen dev titles: mentions whose string training labels as that type, and the rest", ""]
    lines += ["| type | seen: mentions | seen: tagger recall | unseen: mentions | unseen: tagger recall |"]
    lines += ["|---|---:|---:|---:|---:|"]
    for kind, res in results.items():
        seen, new = res["unseen dev titles"]["seen in training"], res["unseen dev titles"]["unseen"]
        lines.append(
            f"| {kind} ({TYPES[kind]}) | {seen['mentions']} | {seen['tagger recall']:.3f} | {new['mentions']} | "
            f"{new['tagger recall']:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / "ner_consistency.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
