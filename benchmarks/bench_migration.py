"""Migration detection on real histories with known change points (splices), against a baseline.

Usage:
  .venv/bin/python -m benchmarks.bench_migration [--splices 600] [--seed 0] [--tune]

For each dataset (Taobao: leaf categories; Online Retail reference split: k-means clusters of the items'
language-model vectors), users with >= 20 events are split by a keyed hash into a development half (settings
are chosen there, with --tune: the rule's grid and the learned detector's look-ahead) and a test half
(reported). A splice joins a user A's whole history with the first 30 events of a user B whose dominant interest
differs; the change point is B's first event. A detection is a counted declaration within 10 events of it
(delay = events after the change point); every other counted declaration, before or after, is a false alarm.
Unspliced: the share of test users with any counted declaration. Detectors: the novelty rule (MigrationConfig
defaults), counting migrations only (as before) and every kind declared; the learned splice detector
(dynamics/splice.py) fit on the development half's own splices, its threshold chosen there out of fold for the
best F1 with at most 5% or 15% of users alarmed, counting every kind declared; the same model reading 20 events
ahead and dating the change at its candidate (5% budget: what this model separates with hindsight, not an
online detector); the baseline declares a change when the dominant interest of the last 5 events differs from
that of all earlier ones. Writes benchmarks/results/migration.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, git_commit, with_interests
from tiderec.data.space import InterestSpace
from tiderec.dynamics.migration import MigrationConfig, detect, dominant_change, learn_detector
from tiderec.dynamics.splice import (
    MIN_EVENTS,
    WITHIN,
    SpliceDetector,
    fit_detector,
    outcome_f1,
    outcome_score,
    splice,
    splice_outcomes,
)


@dataclass(frozen=True)
class Pool:
    name: str
    sequences: list[np.ndarray]
    user_ids: list[str]
    space: InterestSpace


def load(name: str) -> Pool:
    inter, space = with_interests(name)
    seqs, ids = [], []
    for u in range(inter.n_users):
        codes = space.codes[inter.items_of(u)]
        if (codes >= 0).sum() >= MIN_EVENTS:
            seqs.append(codes)
            ids.append(inter.user_vocab.ids[u])
    return Pool(name, seqs, ids, space)


def half(user_id: str) -> str:
    return "dev" if hashlib.blake2b(user_id.encode(), key=b"migration-bench").digest()[0] % 2 == 0 else "test"


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


def ours(
    config: MigrationConfig, vectors: np.ndarray | None, learned: SpliceDetector | None = None, every: bool = False
) -> Callable[[np.ndarray], list[int]]:
    """Declared positions: migrations only, or (every) declarations of any kind."""
    return lambda codes: [m.at_index for m in detect(codes, config, vectors, learned) if every or m.kind == "migration"]


def raw(detector: SpliceDetector) -> Callable[[np.ndarray], list[int]]:
    """Declared positions of a splice detector alone (no kinds)."""

    def alarms(codes: np.ndarray) -> list[int]:
        positions = np.flatnonzero(codes >= 0)
        return [int(positions[at]) for _, at, _ in detector.alarms(codes[positions])]

    return alarms


def interest_vectors(pool: Pool, kind: str) -> np.ndarray | None:
    """None (shares only), 'text' (the clusters' language-model centroids) or 'behaviour' (co-occurrence
    vectors learned from the development half only)."""
    if kind == "none":
        return None
    if kind == "text":
        return pool.space.vectors
    dev = [s for s, u in zip(pool.sequences, pool.user_ids, strict=True) if half(u) == "dev"]
    return pool.space.with_cooccurrence(dev, dim=64, window=200).vectors


RULE = "tiderec, novelty rule"
RULE_ANY = "tiderec, novelty rule, every kind declared"
BASELINE = "baseline (dominant-interest change)"
BUDGETS = (0.05, 0.15)
DIFFERENCES = "f1_differences (paired bootstrap over splices: observed, 95% interval)"
CEILING_AHEAD = 20


def learned_name(budget: float) -> str:
    return f"tiderec, learned detector ({budget:.0%} of dev users alarmed at most), every kind declared"


CEILING = (
    f"learned, reading {CEILING_AHEAD} events ahead and dating the change at its candidate (5% budget; hindsight, "
    "not an online detector)"
)


def evaluate(
    pool: Pool,
    part: str,
    n: int,
    seed: int,
    config: MigrationConfig,
    vectors: np.ndarray | None,
    learned: dict[str, SpliceDetector] | None = None,
) -> dict[str, Any]:
    """Every detector on the splices of one half (`learned`: splice detectors fit on dev, by row name)."""
    seqs = [s for s, u in zip(pool.sequences, pool.user_ids, strict=True) if half(u) == part]
    spliced = splice(seqs, n, np.random.default_rng(seed))
    detectors = {RULE: ours(config, vectors), RULE_ANY: ours(config, vectors, every=True)}
    kinds: dict[str, dict[str, int]] = {RULE: _kinds(spliced, config, vectors, None)}
    as_learned = replace(config, detector="learned")
    for name, detector in (learned or {}).items():
        detectors[name] = raw(detector) if detector.hindsight else ours(as_learned, vectors, detector, every=True)
        if not detector.hindsight:
            kinds[name] = _kinds(spliced, as_learned, vectors, detector)
    detectors[BASELINE] = dominant_change
    outcomes = {name: splice_outcomes(spliced, alarms) for name, alarms in detectors.items()}
    rng = np.random.default_rng(seed)
    versus = {
        f"{name} - {other}": f1_difference(outcomes[name], outcomes[other], rng)
        for name in detectors
        if name.startswith("tiderec, learned")
        for other in (RULE, RULE_ANY)
    }
    scores = {
        name: outcome_score(outcomes[name], len(seqs), float(np.mean([len(alarms(s)) > 0 for s in seqs])))
        for name, alarms in detectors.items()
    }
    return {
        "detectors": scores,
        DIFFERENCES: versus,
        "kinds_declared_at_the_splice": kinds,
        "novelty_ceiling": [novelty_ceiling(spliced, seqs, persist) for persist in (3, CEILING_AHEAD)],
    }


def f1_difference(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, draws: int = 2000) -> list[float]:
    """F1(a) - F1(b) of two detectors' outcomes on the same splices (splice_outcomes): the observed difference and
    a 95% paired bootstrap interval (splices drawn with replacement, each keeping both detectors' outcomes)."""
    observed = float(outcome_f1(a) - outcome_f1(b))
    idx = rng.integers(0, len(a), size=(draws, len(a)))
    low, high = np.quantile(outcome_f1(a[idx]) - outcome_f1(b[idx]), [0.025, 0.975])
    return [observed, float(low), float(high)]


def _kinds(
    spliced: list[tuple[np.ndarray, int]],
    config: MigrationConfig,
    vectors: np.ndarray | None,
    learned: SpliceDetector | None,
) -> dict[str, int]:
    """How many splices get each kind as their first declaration within WITHIN events of the change point."""
    kinds: dict[str, int] = {}
    for codes, cp in spliced:
        for m in detect(codes, config, vectors, learned):
            if cp <= m.at_index < cp + WITHIN:
                kinds[m.kind] = kinds.get(m.kind, 0) + 1
                break
    return kinds


def fit_learned(pool: Pool, config: MigrationConfig) -> dict[str, SpliceDetector]:
    """The learned detectors (one per alarm budget) and the hindsight ceiling, all fit on the dev half."""
    dev = [s for s, u in zip(pool.sequences, pool.user_ids, strict=True) if half(u) == "dev"]
    n = len(pool.space.labels)
    out: dict[str, SpliceDetector] = {}
    for budget in BUDGETS:
        detector = learn_detector(dev, n, replace(config, detector="learned", max_alarm_share=budget))
        if detector is not None:
            out[learned_name(budget)] = detector
    rng = np.random.default_rng(config.seed)
    out[CEILING] = fit_detector(dev, n, rng, CEILING_AHEAD, config.min_history, hindsight=True)
    return out


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
                    res = evaluate(pool, "dev", args.splices, args.seed, cfg, vectors)["detectors"][RULE]
                    print(pool.name, kind, cfg.min_novelty, cfg.z, cfg.return_share, json.dumps(res), flush=True)
            dev = [s for s, u in zip(pool.sequences, pool.user_ids, strict=True) if half(u) == "dev"]
            for look_ahead in (2, 3, 4, 6):
                for budget in BUDGETS:
                    cfg = MigrationConfig(detector="learned", look_ahead=look_ahead, max_alarm_share=budget)
                    d = learn_detector(dev, len(pool.space.labels), replace(cfg, seed=args.seed))
                    if d is not None:
                        print(pool.name, "learned", look_ahead, budget, f"out-of-fold F1 {d.fold_f1:.3f}", flush=True)
        return
    config = MigrationConfig()
    results: dict[str, Any] = {}
    fitted: dict[str, dict[str, dict[str, float]]] = {}
    for p in pools:
        vectors = interest_vectors(p, VECTORS[p.name])
        learned = fit_learned(p, replace(config, seed=args.seed))
        fitted[p.name] = {
            name: {"threshold": d.threshold, "out_of_fold_f1": d.fold_f1, "out_of_fold_alarm_share": d.fold_alarm_share}
            for name, d in learned.items()
        }
        results[p.name] = evaluate(p, "test", args.splices, args.seed, config, vectors, learned)
        results[f"{p.name} (development half: selection, not a test figure)"] = evaluate(
            p, "dev", args.splices, args.seed, config, vectors, learned
        )
    meta = {
        "command": f"python -m benchmarks.bench_migration --splices {args.splices} --seed {args.seed}",
        "config": config.__dict__,
        "interest_space": {p.name: p.space.source for p in pools},
        "interest_vectors": VECTORS,
        "learned detectors (fit on dev; threshold chosen there out of fold)": fitted,
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
        for det, r in res["detectors"].items():
            lines.append(
                f"| {name} | {det} | {r['splices']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                f"{r['median_delay']:.1f} | {r['false_alarms_in_splices']} | {r['unspliced_users_with_alarm']:.3f} |"
            )
    lines += ["", "F1 differences on the same splices (paired bootstrap, 2,000 draws): observed [95% interval]"]
    for name, res in results.items():
        for pair, (obs, low, high) in res[DIFFERENCES].items():
            lines.append(f"- {name}: {pair}: {obs:+.3f} [{low:+.3f}, {high:+.3f}]")
    lines += ["", "Kinds declared at the splice: "]
    lines += [f"- {name}: {res['kinds_declared_at_the_splice']}" for name, res in results.items()]
    lines += [
        "",
        "What new interests alone can separate: splices whose first k events after the change are all in interests A "
        f"never had, against unspliced users with k such events in a row anywhere after their first {MIN_EVENTS} "
        "(k = 3: what a rule declaring on 3 new events sees; k = 20: lasting moves):",
    ]
    for name, res in results.items():
        shares = "; ".join(
            f"k = {c['persist']}: splices {c['splices_with_a_new_run']:.3f}, unspliced users "
            f"{c['unspliced_users_with_a_new_run']:.3f}"
            for c in res["novelty_ceiling"]
        )
        lines.append(f"- {name}: {shares}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
