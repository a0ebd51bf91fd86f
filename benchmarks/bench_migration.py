"""Migration detection on real histories with known change points (splices), against a baseline.

Usage:
  .venv/bin/python -m benchmarks.bench_migration [--splices 600] [--seed 0] [--tune]

For each dataset (Taobao: leaf categories; Online Retail reference split: k-means clusters of the items'
language-model vectors), users with >= 20 events are split by a keyed hash into a development half (settings
are chosen there, with --tune) and a test half (reported). A splice joins a user A's whole history with the
first 30 events of a user B whose dominant interest differs; the change point is B's first event. A detection
is a declared migration within 10 events of it (delay = events after the change point); every other declared
migration, before or after, is a false alarm. Unspliced: the share of test users with any declared migration.
The baseline declares a change when the dominant interest of the last 5 events differs from that of all earlier
ones. Writes benchmarks/results/migration.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, ensure_data, git_commit
from tiderec.clean.store import read_cleaned
from tiderec.data.interactions import Interactions
from tiderec.dynamics.migration import MigrationConfig, detect, dominant_change
from tiderec.dynamics.space import InterestSpace, interest_space
from tiderec.text.store import read_vectors

MIN_EVENTS = 20
B_EVENTS = 30
WITHIN = 10


@dataclass(frozen=True)
class Pool:
    name: str
    sequences: list[np.ndarray]
    user_ids: list[str]
    space: InterestSpace


def load(name: str) -> Pool:
    folder = ensure_data(name, 2)
    cleaned = read_cleaned(folder)
    inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
    vectors_dir = folder.parent / "vectors"
    vectors = None
    if (vectors_dir / "manifest.json").is_file():
        vectors, _ = read_vectors(vectors_dir).aligned(cleaned.item_vocab.ids)
    space = interest_space(cleaned.items, vectors)
    seqs, ids = [], []
    for u in range(inter.n_users):
        codes = space.codes[inter.items_of(u)]
        if (codes >= 0).sum() >= MIN_EVENTS:
            seqs.append(codes)
            ids.append(inter.user_vocab.ids[u])
    return Pool(name, seqs, ids, space)


def half(user_id: str) -> str:
    return "dev" if hashlib.blake2b(user_id.encode(), key=b"migration-bench").digest()[0] % 2 == 0 else "test"


def dominant(codes: np.ndarray) -> int:
    known = codes[codes >= 0]
    return int(np.bincount(known).argmax())


def splices(seqs: list[np.ndarray], n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    out: list[tuple[np.ndarray, int]] = []
    tops = [dominant(s) for s in seqs]
    while len(out) < n:
        a, b = rng.integers(0, len(seqs), size=2)
        if a == b or tops[a] == tops[b]:
            continue
        out.append((np.concatenate([seqs[a], seqs[b][:B_EVENTS]]), len(seqs[a])))
    return out


def score(spliced: list[tuple[np.ndarray, int]], plain: list[np.ndarray], alarms: Any) -> dict[str, float | int]:
    """alarms(codes) -> positions of declared migrations; precision, recall, F1, delays, unspliced alarms."""
    tp = fp = 0
    delays: list[int] = []
    for codes, cp in spliced:
        hits = sorted(alarms(codes))
        first = next((h for h in hits if cp <= h < cp + WITHIN), None)
        if first is not None:
            tp += 1
            delays.append(first - cp)
        fp += len(hits) - (first is not None)
    precision = tp / max(tp + fp, 1)
    recall = tp / len(spliced)
    return {
        "splices": len(spliced),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(precision + recall, 1e-12),
        "median_delay": float(np.median(delays)) if delays else float("nan"),
        "false_alarms_in_splices": fp,
        "unspliced_users": len(plain),
        "unspliced_users_with_alarm": float(np.mean([len(alarms(s)) > 0 for s in plain])),
    }


def new_runs(codes: np.ndarray, persist: int) -> np.ndarray:
    """bool[n_known - persist + 1]: whether the `persist` known events from each known position on are all in
    interests absent from every known event before that position."""
    known = codes[codes >= 0]
    if len(known) < persist:
        return np.zeros(0, dtype=bool)
    _, first, inverse = np.unique(known, return_index=True, return_inverse=True)
    first_seen = first[inverse]
    window = np.lib.stride_tricks.sliding_window_view(first_seen, persist).min(axis=1)
    out: np.ndarray = window >= np.arange(len(window))
    return out


def novelty_ceiling(
    spliced: list[tuple[np.ndarray, int]], plain: list[np.ndarray], persist: int = 3
) -> dict[str, float]:
    """How far "which interests are new" separates splices from unspliced users: the share of splices whose first
    `persist` events after the change are all in interests user A never had, and the share of unspliced users
    with such a run anywhere after their first MIN_EVENTS known events. A rule that declares on such runs alarms
    on about the second share of unspliced users to find the first share of splices within persist - 1 events."""
    at_splice = [bool(new_runs(codes, persist)[int((codes[:cp] >= 0).sum())]) for codes, cp in spliced]
    natural = [bool(new_runs(s, persist)[MIN_EVENTS:].any()) for s in plain]
    return {
        "persist": persist,
        "splices_with_a_new_run": float(np.mean(at_splice)),
        "unspliced_users_with_a_new_run": float(np.mean(natural)),
    }


def ours(config: MigrationConfig, vectors: np.ndarray | None) -> Any:
    return lambda codes: [m.at_index for m in detect(codes, config, vectors) if m.kind == "migration"]


def interest_vectors(pool: Pool, kind: str) -> np.ndarray | None:
    """None (shares only), 'text' (the clusters' language-model centroids) or 'behaviour' (co-occurrence
    vectors learned from the development half only)."""
    if kind == "none":
        return None
    if kind == "text":
        return pool.space.vectors
    dev = [s for s, u in zip(pool.sequences, pool.user_ids, strict=True) if half(u) == "dev"]
    return pool.space.with_cooccurrence(dev, dim=64, window=200).vectors


def evaluate(
    pool: Pool, part: str, n: int, seed: int, config: MigrationConfig, vectors: np.ndarray | None
) -> dict[str, Any]:
    seqs = [s for s, u in zip(pool.sequences, pool.user_ids, strict=True) if half(u) == part]
    spliced = splices(seqs, n, np.random.default_rng(seed))
    kinds: dict[str, int] = {}
    for codes, cp in spliced:
        for m in detect(codes, config, vectors):
            if cp <= m.at_index < cp + WITHIN:
                kinds[m.kind] = kinds.get(m.kind, 0) + 1
                break
    return {
        "tiderec": score(spliced, seqs, ours(config, vectors)),
        "baseline (dominant-interest change)": score(spliced, seqs, dominant_change),
        "kinds_declared_at_the_splice": kinds,
        "novelty_ceiling": novelty_ceiling(spliced, seqs),
    }


GRID = [
    MigrationConfig(min_novelty=m, z=z, return_share=s)
    for m in (0.3, 0.5, 0.7, 0.9)
    for z in (0.0, 1.0, 2.0)
    for s in (0.2, 0.3)
]
VECTORS = {"taobao": "behaviour", "or5": "text"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splices", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune", action="store_true", help="print the grid on the development half and stop")
    args = parser.parse_args()
    pools = [load("taobao"), load("or5")]
    if args.tune:
        for pool in pools:
            for kind in ("none", "text" if pool.name == "or5" else "behaviour"):
                vectors = interest_vectors(pool, kind)
                for cfg in GRID:
                    res = evaluate(pool, "dev", args.splices, args.seed, cfg, vectors)["tiderec"]
                    print(pool.name, kind, cfg.min_novelty, cfg.z, cfg.return_share, json.dumps(res), flush=True)
        return
    config = MigrationConfig()
    results: dict[str, Any] = {}
    for p in pools:
        vectors = interest_vectors(p, VECTORS[p.name])
        results[p.name] = evaluate(p, "test", args.splices, args.seed, config, vectors)
        results[f"{p.name} (development half: selection, not a test figure)"] = evaluate(
            p, "dev", args.splices, args.seed, config, vectors
        )
    meta = {
        "command": f"python -m benchmarks.bench_migration --splices {args.splices} --seed {args.seed}",
        "config": config.__dict__,
        "interest_space": {p.name: p.space.source for p in pools},
        "interest_vectors": VECTORS,
        "users": {p.name: len(p.sequences) for p in pools},
        "protocol": __doc__.split("\n\n")[2].replace("\n", " ") if __doc__ else "",
        "device": f"CPU; {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "migration.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    text = markdown(meta, results)
    (RESULTS / "migration.md").write_text(text)
    print(text)


def markdown(meta: dict[str, Any], results: dict[str, Any]) -> str:
    lines = ["# Migration detection on spliced real histories", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += [
        "",
        "| dataset | detector | splices | precision | recall | F1 | median delay (events) | false alarms in "
        "splices | unspliced users with an alarm |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in results.items():
        for det in ("tiderec", "baseline (dominant-interest change)"):
            r = res[det]
            lines.append(
                f"| {name} | {det} | {r['splices']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                f"{r['median_delay']:.1f} | {r['false_alarms_in_splices']} | {r['unspliced_users_with_alarm']:.3f} |"
            )
    lines += ["", "Kinds declared at the splice (tiderec): "]
    lines += [f"- {name}: {res['kinds_declared_at_the_splice']}" for name, res in results.items()]
    lines += [
        "",
        "What new interests alone can separate: splices whose first 3 events after the change are all in interests A "
        f"never had, against unspliced users with 3 such events in a row anywhere after their first {MIN_EVENTS}:",
    ]
    for name, res in results.items():
        c = res["novelty_ceiling"]
        shares = f"splices {c['splices_with_a_new_run']:.3f}, unspliced users {c['unspliced_users_with_a_new_run']:.3f}"
        lines.append(f"- {name}: {shares}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
