"""Lasting move or excursion, on real labels: at the k-th event of a run of new interests, will it last?

Usage:
  .venv/bin/python -m benchmarks.bench_lasting [--seed 0] [--boot 1000]

A run starts at an event in an interest the user never had (after 5 known events) and lasts while every event
is in interests absent from the history before it; it is a lasting move when it reaches 10 events before the
user returns to an old interest, an excursion when they return sooner (runs the data ends first are left out).
The label is the histories' own future, so no splice is needed. Users are split by a keyed hash into a
development half (the library's fit_lasting: its L2 strength per k from {0.1, 1, 10, 100} by out-of-fold ROC-AUC
over two folds of users, and the F1 threshold from the same out-of-fold probabilities) and a test half, scored
once; also as the service reads it (the last 50 events up to the decision only). At k = 2, 3 and 5 (runs
that reached k events) ROC-AUC, PR-AUC (average precision) and F1 with 95% intervals (bootstrap over test
users, every run of a drawn user kept), against: always lasting (a constant score); run length so far (a
constant at a fixed k, so the same as always lasting; informative only when the k are pooled, as reported
too); the user's own share of past runs that lasted; the first interest's stickiness (its share of lasting
runs among development users). Datasets: Taobao (leaf categories), Online Retail 5-core (k-means clusters of
the items' language-model vectors), Amazon Beauty (clusters of the S3-Rec attribute ids). Writes
benchmarks/results/lasting.{json,md}.
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

from benchmarks.bench_migration import half
from benchmarks.bench_models import RESULTS, git_commit, with_interests
from tiderec.dynamics.lasting import (
    FEATURES,
    KS,
    L2S,
    Example,
    History,
    LastingModel,
    examples,
    fit_lasting,
    past_lasting_share,
    runs,
    user_histories,
)
from tiderec.dynamics.logistic import auc, average_precision, best_threshold, f1_at
from tiderec.interest.state import InterestConfig

WINDOW = InterestConfig().window
DATASETS = {"taobao": "Taobao", "or5": "Online Retail 5-core", "beauty": "Amazon Beauty"}
MODEL = "tiderec lasting-move model"
SERVED = f"the same, as served (the last {WINDOW} events only)"
ALWAYS = "always lasting"
LENGTH = "run length so far"
OWN = "user's past runs that lasted"
STICKY = "first interest's stickiness (dev users)"


def load(key: str) -> tuple[list[History], list[str], int, np.ndarray | None, str]:
    """Histories (known events), user ids, number of interests, interest vectors and the space's description."""
    inter, space = with_interests(key)
    every = user_histories(inter, space.codes)
    kept = [u for u, h in enumerate(every) if len(h.codes)]
    ids = inter.user_vocab.ids.to_list()
    return [every[u] for u in kept], [ids[u] for u in kept], len(space.labels), space.vectors, space.source


def served(model: LastingModel, histories: list[History], chosen: list[Example], k: int, window: int) -> np.ndarray:
    """P(lasting) as the service gives it: from the last `window` events up to the run's k-th event only (the
    service keeps a window, so runs and features are read from it)."""
    out = []
    for h, run in chosen:
        end = run.start + k
        start = max(0, end - window)
        full = histories[h]
        view = History(full.codes[start:end], full.ts[start:end], full.types[start:end])
        current = model.current(view)
        out.append(np.nan if current is None else current[1])
    return np.array(out)


def own_share(histories: list[History], chosen: list[Example]) -> np.ndarray:
    """The user's smoothed share of past runs (resolved before this run started) that lasted."""
    return np.array([past_lasting_share(runs(histories[h].codes[: run.start])) for h, run in chosen])


Scores = dict[str, float | list[float]]


def score(probs: np.ndarray, labels: np.ndarray, users: np.ndarray, threshold: float, boot: int, seed: int) -> Scores:
    """ROC-AUC, PR-AUC and F1 at `threshold`, each with a 95% bootstrap interval over users."""
    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "roc_auc": auc,
        "pr_auc": average_precision,
        "f1": lambda p, y: f1_at(p, y, threshold),
    }
    draws = bootstrap_rows(users, boot, seed)
    out: Scores = {}
    for name, fn in metrics.items():
        values = [fn(probs[rows], labels[rows]) for rows in draws]
        low, high = np.nanquantile(values, [0.025, 0.975])
        out[name] = float(fn(probs, labels))
        out[f"{name}_95"] = [float(low), float(high)]
    return out


def bootstrap_rows(users: np.ndarray, boot: int, seed: int) -> list[np.ndarray]:
    """Row indices of `boot` resamples of the users (every row of a drawn user kept, repeats included)."""
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(users, return_inverse=True)
    members = [np.flatnonzero(inverse == j) for j in range(len(unique))]
    return [np.concatenate([members[j] for j in rng.integers(0, len(unique), size=len(unique))]) for _ in range(boot)]


def difference(
    a: np.ndarray, b: np.ndarray, labels: np.ndarray, users: np.ndarray, boot: int, seed: int
) -> list[float]:
    """ROC-AUC(a) - ROC-AUC(b) on the same runs: observed and a 95% paired bootstrap interval over users."""
    values = [auc(a[rows], labels[rows]) - auc(b[rows], labels[rows]) for rows in bootstrap_rows(users, boot, seed)]
    low, high = np.nanquantile(values, [0.025, 0.975])
    return [auc(a, labels) - auc(b, labels), float(low), float(high)]


def run_dataset(key: str, seed: int, boot: int) -> dict[str, Any]:
    started = time.perf_counter()
    histories, ids, n, vectors, source = load(key)
    parts = np.array([half(u) for u in ids])
    dev = [h for h, p in zip(histories, parts, strict=True) if p == "dev"]
    test = [h for h, p in zip(histories, parts, strict=True) if p == "test"]
    out: dict[str, Any] = {"interest_space": source, "interests": n, "users": {"dev": len(dev), "test": len(test)}}
    model = fit_lasting(dev, n, vectors, KS, L2S, seed)
    out["fit_seconds"] = round(time.perf_counter() - started, 1)
    sticky = model.stickiness.values
    pooled: dict[str, list[np.ndarray]] = {"labels": [], "users": [], MODEL: [], LENGTH: []}
    for k in KS:
        dev_chosen = examples(dev, k)
        dev_labels = np.array([r.label for _, r in dev_chosen], dtype=np.float64)
        chosen = examples(test, k)
        labels = np.array([r.label for _, r in chosen], dtype=np.float64)
        users = np.array([h for h, _ in chosen])
        probs = model.probabilities(test, chosen, k)
        as_served = served(model, test, chosen, k, WINDOW)
        own = own_share(test, chosen)
        first = np.array([sticky[test[h].codes[r.start]] for h, r in chosen])
        dev_own = own_share(dev, dev_chosen)
        dev_first = np.array([sticky[dev[h].codes[r.start]] for h, r in dev_chosen])
        threshold = model.thresholds[k]
        rows = {
            MODEL: score(probs, labels, users, threshold, boot, seed),
            SERVED: score(np.nan_to_num(as_served, nan=0.0), labels, users, threshold, boot, seed),
            ALWAYS: score(np.ones(len(labels)), labels, users, 1.0, boot, seed),
            OWN: score(own, labels, users, best_threshold(dev_own, dev_labels), boot, seed),
            STICKY: score(first, labels, users, best_threshold(dev_first, dev_labels), boot, seed),
        }
        weights = dict(zip(FEATURES, model.models[k].weights.round(3).tolist(), strict=True))
        out[f"k={k}"] = {
            "test_runs": len(labels),
            "test_lasting_share": float(labels.mean()),
            "dev_runs": len(dev_labels),
            "chosen_l2": model.l2[k],
            "dev_out_of_fold_roc_auc": {str(l2): v for l2, v in model.fold_auc[k].items()},
            "threshold": threshold,
            "served_runs_without_a_probability": int(np.isnan(as_served).sum()),
            "scores": rows,
            "roc_auc_difference vs user's past runs": difference(probs, own, labels, users, boot, seed),
            "roc_auc_difference vs stickiness": difference(probs, first, labels, users, boot, seed),
            "standardised_weights": weights,
        }
        pooled["labels"].append(labels)
        pooled["users"].append(users)
        pooled[MODEL].append(probs)
        pooled[LENGTH].append(np.full(len(labels), float(k)))
    labels, users = np.concatenate(pooled["labels"]), np.concatenate(pooled["users"])
    out["k pooled (2, 3, 5; roc_auc only)"] = {
        name: score(np.concatenate(pooled[name]), labels, users, 0.5, boot, seed)["roc_auc"] for name in (MODEL, LENGTH)
    }
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boot", type=int, default=1000)
    args = parser.parse_args()
    keys = args.datasets.split(",")
    unknown = [k for k in keys if k not in DATASETS]
    if unknown:
        parser.error(f"--datasets: unknown {unknown}; expected some of {list(DATASETS)}")
    results = {DATASETS[key]: run_dataset(key, args.seed, args.boot) for key in keys}
    command = "python -m benchmarks.bench_lasting" + ("" if keys == list(DATASETS) else f" --datasets {args.datasets}")
    meta = {
        "command": command + ("" if args.seed == 0 else f" --seed {args.seed}") + f" --boot {args.boot}",
        "protocol": " ".join(__doc__.split("\n\n")[2].split()) if __doc__ else "",
        "features": list(FEATURES),
        "device": f"CPU; {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lasting.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    text = markdown(meta, results)
    (RESULTS / "lasting.md").write_text(text)
    print(text)


def markdown(meta: dict[str, Any], results: dict[str, Any]) -> str:
    lines = ["# Lasting move or excursion, on the data's own future", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items() if k != "features"]
    lines += ["", "| dataset | k | test runs | lasting share | predictor | ROC-AUC [95%] | PR-AUC [95%] | F1 [95%] |"]
    lines += ["|---|---:|---:|---:|---|---|---|---|"]
    for name, res in results.items():
        for k in KS:
            r = res[f"k={k}"]
            for predictor, s in r["scores"].items():
                cells = " | ".join(
                    f"{s[m]:.3f} [{s[f'{m}_95'][0]:.3f}, {s[f'{m}_95'][1]:.3f}]" for m in ("roc_auc", "pr_auc", "f1")
                )
                lines.append(
                    f"| {name} | {k} | {r['test_runs']} | {r['test_lasting_share']:.3f} | {predictor} | {cells} |"
                )
    lines += ["", "ROC-AUC differences on the same test runs (paired bootstrap over users): observed [95% interval]"]
    for name, res in results.items():
        for k in KS:
            r = res[f"k={k}"]
            for label in [key for key in r if key.startswith("roc_auc_difference")]:
                obs, low, high = r[label]
                lines.append(f"- {name}, k = {k}: model {label.removeprefix('roc_auc_difference ')}: "
                             f"{obs:+.3f} [{low:+.3f}, {high:+.3f}]")  # fmt: skip
    lines += ["", "Pooled over k = 2, 3, 5 (where run length so far varies), test ROC-AUC:"]
    for name, res in results.items():
        pooled = res["k pooled (2, 3, 5; roc_auc only)"]
        lines.append(f"- {name}: " + "; ".join(f"{p} {v:.3f}" for p, v in pooled.items()))
    lines += ["", "Users (dev / test), interest space, chosen L2 per k and run time:"]
    for name, res in results.items():
        l2 = ", ".join(f"k={k}: {res[f'k={k}']['chosen_l2']}" for k in KS)
        lines.append(
            f"- {name}: {res['users']['dev']} / {res['users']['test']} users; {res['interest_space']} "
            f"({res['interests']} interests); L2 {l2}; {res['seconds']} s"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
