"""How fast each model's next-item accuracy recovers after a shopper's interests change.

Usage:
  .venv/bin/python -m benchmarks.bench_recovery [--datasets or5,taobao] [--max-minutes 4] [--seed 0]
      [--positions 10] [--splices 300] [--control 500] [--threads 2]

Users are split by the keyed hash of benchmarks/bench_migration.py (`half`). Every model trains on the
development half only: all events of each development user but the last, whose last event validates (early
stopping, the interest model's co-occurrence and shift weights, NextInterest's mix). Only test-half users are scored, in
three kinds of histories with a known change point c: splices (a test user A's whole history, then the first 30
events of a test user B whose dominant interest differs, B's times moved to start a day after A's last event;
c = B's first event); real lasting moves (the first run of >= 10 events in interests the user never had,
dynamics/lasting.py; c = the run's first event); control (test users without a lasting move, c drawn at the
relative position of a random real move). At position j = 1..P after the change, the model reads the events
strictly before event c + j - 1 (its own max_len window) and ranks every item (full ranking, seen items kept:
scoring (A)) for that event: HR@10 and NDCG@10, and NextInterest's top-5 accuracy for its interest. Steady state:
for splices, B's events 1..P read alone (B's own history of 1..P events); for moves and control, the same
history's positions P+1..2P after c, where the history has them. The interest model is scored as trained (its
new-interest shift term with the weight validation chose) and, as "tiderec without shift", with that term off:
the migration signal's own gain, a paired bootstrap over the same histories. Interest spaces: Taobao's leaf
categories, Online Retail's k-means clusters of item language-model vectors. Writes
benchmarks/results/recovery.{json,md,svg}.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from benchmarks.bench_migration import half
from benchmarks.bench_models import RESULTS, ensure_data, git_commit
from tiderec.clean.vocab import Vocabulary
from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays, history_arrays
from tiderec.data.space import InterestSpace, interest_space
from tiderec.data.splits import Split, Targets, leave_one_out
from tiderec.dynamics import shortterm
from tiderec.dynamics.lasting import LASTING, MIN_HISTORY, runs
from tiderec.dynamics.shortterm import Mix, NextInterest, choose_mix, top_k_accuracy
from tiderec.dynamics.splice import B_EVENTS, MIN_EVENTS, dominant
from tiderec.metrics import summarize, target_ranks
from tiderec.models.interest import InterestModel
from tiderec.models.popularity import Popularity
from tiderec.models.scorer import Scorer, TorchScorer
from tiderec.train.auto import settle
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import Prepared, Trained, prepare, train_model
from tiderec.train.validate import scored_by_length
from tiderec.types import HOUR_US

KINDS: dict[str, str] = {
    "splice": f"splices (A's history, then B's first {B_EVENTS} events)",
    "move": f"real lasting moves (>= {LASTING} events in new interests)",
    "control": "control (users without a lasting move)",
}
TRAINED = ("tiderec", "sasrec", "markov", "itemknn", "pop")
LAST = "last interest"
OURS = "tiderec"
NO_SHIFT = "tiderec without shift"
"""The same trained interest model with its new-interest shift term off: what the migration signal adds."""
K = 10
SUMMED = 5
REACH = 0.8
"""The share of the steady state that counts as recovered (the key names it: 80pct)."""
SPLICE_GAP_US = 24 * HOUR_US
TIME_SHARE = {"or5": 1.0, "taobao": 0.5}
"""The share of --max-minutes each dataset's neural models get (Taobao's development half is ~390 users)."""
BATCH = {"or5": 256, "taobao": 128}
"""Training batch sizes as in the models benchmarks (Taobao's small split needs more steps per epoch)."""
PANEL = (330, 240)
"""Width and height of one chart of the SVG, in pixels."""
COLOURS = {
    "tiderec": "#d62728",
    "sasrec": "#1f77b4",
    "markov": "#2ca02c",
    "itemknn": "#9467bd",
    "pop": "#7f7f7f",
    LAST: "#ff7f0e",
    NO_SHIFT: "#e377c2",
}


@dataclass(frozen=True)
class Scored:
    """A history to score: rows of the dataset's interactions in order, the time added to each row (a splice's
    second user moves after the first) and the indices of the events to predict."""

    rows: np.ndarray
    shift: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True)
class Case:
    """One history with a known change point: its recovery targets (positions 1..P after the change) and its
    steady-state targets (None where the history has none)."""

    curve: Scored
    steady: Scored | None


def rows_of(inter: Interactions, user: int) -> np.ndarray:
    """int64[n]: the rows of one user's events, in time order."""
    return np.arange(inter.offsets[user], inter.offsets[user + 1], dtype=np.int64)


def plain(rows: np.ndarray, targets: np.ndarray) -> Scored:
    """A history scored as it happened (no time shift)."""
    return Scored(rows, np.zeros(len(rows), dtype=np.int64), targets)


def at_change(rows: np.ndarray, change: int, positions: int) -> Case:
    """Recovery targets change..change+P-1 and steady-state targets the P after them (when all exist)."""
    steady = change + positions + np.arange(positions) if change + 2 * positions <= len(rows) else None
    return Case(
        plain(rows, change + np.arange(positions)), None if steady is None else plain(rows, steady.astype(np.int64))
    )


def splices(
    inter: Interactions, codes: np.ndarray, users: list[int], n: int, positions: int, rng: np.random.Generator
) -> list[Case]:
    """n splices of users with >= MIN_EVENTS known events, drawn as dynamics.splice.splice draws them (pairs whose
    dominant interests differ), on item rows; the steady state is B's events 1..P read alone."""
    pool = [u for u in users if (codes[inter.items_of(u)] >= 0).sum() >= MIN_EVENTS]
    tops = [dominant(codes[inter.items_of(u)]) for u in pool]
    if len(set(tops)) < 2:
        raise SystemExit("splices need test users with at least two different dominant interests")
    out: list[Case] = []
    while len(out) < n:
        a, b = rng.integers(0, len(pool), size=2)
        if tops[a] == tops[b]:
            continue
        first, second = rows_of(inter, pool[a]), rows_of(inter, pool[b])[:B_EVENTS]
        moved = inter.ts[first[-1]] + SPLICE_GAP_US - inter.ts[second[0]]
        shift = np.concatenate([np.zeros(len(first), dtype=np.int64), np.full(len(second), moved, dtype=np.int64)])
        curve = Scored(np.concatenate([first, second]), shift, len(first) + np.arange(positions))
        out.append(Case(curve, plain(second, 1 + np.arange(positions))))
    return out


def first_lasting(codes: np.ndarray) -> int | None:
    """The event index where a history's first lasting move starts (codes int64[n], -1 unknown), or None."""
    known = np.flatnonzero(codes >= 0)
    lasting = [r for r in runs(codes[known], MIN_HISTORY) if r.label == 1]
    return int(known[lasting[0].start]) if lasting else None


def moves(inter: Interactions, codes: np.ndarray, users: list[int], positions: int) -> list[Case]:
    """Every user's first lasting move, scored from its first event."""
    out = []
    for u in users:
        change = first_lasting(codes[inter.items_of(u)])
        if change is not None:
            out.append(at_change(rows_of(inter, u), change, positions))
    return out


def controls(
    inter: Interactions,
    codes: np.ndarray,
    users: list[int],
    relative: np.ndarray,
    n: int,
    positions: int,
    rng: np.random.Generator,
) -> list[Case]:
    """Up to n users without a lasting move, each scored from c = a random real move's relative position times
    the history's length (kept between MIN_HISTORY and the last P events; the last P when there is no move)."""
    eligible = [
        u
        for u in users
        if inter.lengths()[u] >= MIN_HISTORY + positions and first_lasting(codes[inter.items_of(u)]) is None
    ]
    chosen = np.sort(rng.choice(np.array(eligible, dtype=np.int64), size=min(n, len(eligible)), replace=False))
    out = []
    for u in chosen.tolist():
        rows = rows_of(inter, u)
        share = float(rng.choice(relative)) if len(relative) else 1.0
        out.append(
            at_change(rows, int(np.clip(round(share * len(rows)), MIN_HISTORY, len(rows) - positions)), positions)
        )
    return out


def relative_changes(cases: list[Case]) -> np.ndarray:
    """float[n]: each real move's change point as a share of its history's length."""
    return np.array([c.curve.targets[0] / len(c.curve.rows) for c in cases], dtype=np.float64)


def pseudo_interactions(inter: Interactions, histories: list[Scored]) -> Interactions:
    """The histories as users of their own (times shifted), same item vocabulary."""
    rows = np.concatenate([h.rows for h in histories])
    lengths = np.array([len(h.rows) for h in histories], dtype=np.int64)
    users = Vocabulary.from_ids(pl.Series([f"h{i}" for i in range(len(histories))]))
    return Interactions(
        np.repeat(np.arange(len(histories), dtype=np.int64), lengths),
        inter.item[rows],
        inter.ts[rows] + np.concatenate([h.shift for h in histories]),
        inter.event_type[rows],
        inter.value[rows],
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        users,
        inter.item_vocab,
    )


def pseudo_targets(pseudo: Interactions, histories: list[Scored]) -> Targets:
    """Every history's targets, each reading the events strictly before its time (as the splits do: the rest of
    a basket is never input)."""
    user = np.repeat(np.arange(len(histories), dtype=np.int64), [len(h.targets) for h in histories])
    row = pseudo.offsets[user] + np.concatenate([h.targets for h in histories])
    history_len = np.array(
        [
            np.searchsorted(pseudo.ts[pseudo.offsets[u] : r], pseudo.ts[r], side="left")
            for u, r in zip(user.tolist(), row.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    return Targets(user, pseudo.item[row], pseudo.ts[row], row, history_len)


@dataclass(frozen=True)
class Batch:
    """Every target of one dataset, ready to score: the model inputs, the targets, and per kind the target
    indices of its recovery curve int64[n_cases, P] and of its steady state int64[m]."""

    pseudo: Interactions
    targets: Targets
    arrays: SequenceArrays
    curve: dict[str, np.ndarray]
    steady: dict[str, np.ndarray]


def batch(inter: Interactions, cases: dict[str, list[Case]], max_len: int) -> Batch:
    """One scoring batch for all kinds; a case whose recovery targets have no earlier event is left out (and
    so is any steady-state target without one)."""
    histories: list[Scored] = []
    spans: dict[str, list[tuple[int, int]]] = {}
    for kind, found in cases.items():
        spans[kind] = []
        for case in found:
            histories.append(case.curve)
            spans[kind].append((len(histories) - 1, -1 if case.steady is None else len(histories)))
            if case.steady is not None:
                histories.append(case.steady)
    pseudo = pseudo_interactions(inter, histories)
    targets = pseudo_targets(pseudo, histories)
    first = np.concatenate([[0], np.cumsum([len(h.targets) for h in histories])])
    curve, steady = {}, {}
    for kind, pairs in spans.items():
        rows = [np.arange(first[c], first[c + 1]) for c, _ in pairs]
        keep = [r for r in rows if (targets.history_len[r] > 0).all()]
        curve[kind] = np.array(keep, dtype=np.int64).reshape(len(keep), -1)
        held = [np.arange(first[s], first[s + 1]) for (_, s) in pairs if s >= 0]
        every = np.concatenate(held) if held else np.zeros(0, dtype=np.int64)
        steady[kind] = every[targets.history_len[every] > 0]
    return Batch(pseudo, targets, history_arrays(pseudo, targets, max_len), curve, steady)


def ranks_of(scorer: Scorer, arrays: SequenceArrays, truth: np.ndarray, size: int = 512) -> np.ndarray:
    """int64[m]: each target's full-ranking rank (pessimistic ties) under the scorer's own `score`, in batches of
    similar history length (as evaluation scores)."""
    out = np.empty(len(truth), dtype=np.int64)
    for rows, scores in scored_by_length(scorer, arrays, (arrays.items > 0).sum(axis=1), size):
        out[rows] = target_ranks(scores, truth[rows])
    return out


class LastInterest:
    """Items in the interest of the history's last event, by popularity, then every other item by popularity
    (popularity: the development users' training rows)."""

    name = LAST

    def __init__(self, train: Interactions, codes: np.ndarray) -> None:
        self.n_items = train.n_items
        self.codes = codes
        self.popularity = Popularity(train)

    def score(self, arrays: SequenceArrays) -> np.ndarray:
        scores = self.popularity.score(arrays)
        last = arrays.items[:, -1] - 1
        code = np.where(last >= 0, self.codes[np.maximum(last, 0)], -1)
        same = (self.codes[None, :] == code[:, None]) & (code[:, None] >= 0)
        out: np.ndarray = scores + same * (float(scores.max()) + 1.0)
        return out


def development(prepared: Prepared, dev_users: np.ndarray) -> Prepared:
    """The development users only: every event but each user's last trains, the last validates (and stands in as
    the unused test targets)."""
    inter = prepared.inter.take(dev_users[prepared.inter.user])
    held = leave_one_out(inter).test
    train_rows = np.setdiff1d(np.arange(len(inter), dtype=np.int64), held.row)
    info = {"users": int(dev_users.sum()), "train_rows": len(train_rows), "valid_targets": len(held)}
    split = Split("development users: last event validates", inter, train_rows, held, held, info)
    return replace(prepared, inter=inter, split=split)


def training_record(trained: Trained) -> dict[str, Any]:
    """What training did, for the results."""
    r = trained.result
    record: dict[str, Any] = {"seconds": round(trained.seconds, 1)}
    if r is not None:
        record |= {
            "best_epoch": r.best_epoch,
            "epochs_run": r.epochs_run,
            "stopped": r.stopped,
            "valid_ndcg@10": r.best_valid.get("A", {}).get("ndcg@10"),
            "neighbour_weight": r.neighbour_weight,
            "shift_weight": r.shift_weight,
        }
    return record


def fit_models(
    dev: Prepared, config: TrainConfig, codes: np.ndarray
) -> tuple[dict[str, Scorer], dict[str, dict[str, Any]]]:
    """Every model trained or fitted on the development users, with its training record."""
    scorers: dict[str, Scorer] = {}
    records: dict[str, dict[str, Any]] = {}
    for name in TRAINED:
        trained = train_model(dev, name, config, progress=False)
        scorers[name], records[name] = trained.scorer, training_record(trained)
        print(f"  {name}: {records[name]}", flush=True)
        if name == OURS and isinstance(trained.model, InterestModel) and trained.model.config.shift:
            plain = copy.deepcopy(trained.model)
            plain.get_buffer("shift_weight").fill_(0.0)
            scorers[NO_SHIFT] = TorchScorer(NO_SHIFT, plain)
    scorers[LAST] = LastInterest(dev.split.train, codes)
    return scorers, records


def next_interest(dev: Prepared, space: InterestSpace) -> tuple[NextInterest, Mix]:
    """NextInterest fitted on the development users' training rows, its mix chosen on their validation events."""
    model = NextInterest(dev.split.train, space.codes, len(space.labels))
    valid = dev.split.valid.take(space.codes[dev.split.valid.item] >= 0)
    return model, choose_mix(model, shortterm.histories_of(dev.inter, valid), space.codes[valid.item])


def top5(model: NextInterest, mix: Mix, scored: Batch, chosen: np.ndarray) -> dict[str, float]:
    """Top-5 next-interest accuracy of NextInterest and of the last-interest baseline on targets `chosen`."""
    known = chosen[model.codes[scored.targets.item[chosen]] >= 0]
    if not len(known):
        return {"NextInterest": float("nan"), LAST: float("nan"), "targets": 0}
    history = shortterm.histories_of(scored.pseudo, scored.targets.take(known))
    truth = model.codes[scored.targets.item[known]]
    return {
        "NextInterest": round(top_k_accuracy(model.scores(history, mix), truth, (5,))["top5"], 4),
        LAST: round(top_k_accuracy(model.last_interest(history), truth, (5,))["top5"], 4),
        "targets": len(known),
    }


def curve_of(ranks: np.ndarray, steady: np.ndarray) -> dict[str, Any]:
    """One model on one kind: HR@10 and NDCG@10 per position (ranks int64[n, P]), their sums over the first
    positions, the steady state (ranks int64[m]) and the first position reaching REACH of it."""
    cells = [summarize(ranks[:, j], (K,)) for j in range(ranks.shape[1])]
    held = summarize(steady, (K,))
    out: dict[str, Any] = {"steady": {"targets": int(held["targets"])}, "first_position_at_80pct_of_steady": {}}
    for metric in (f"hr@{K}", f"ndcg@{K}"):
        values = [c.get(metric, float("nan")) for c in cells]
        out[metric] = values
        out[f"sum_{metric}_1_{SUMMED}"] = round(float(np.sum(values[:SUMMED])), 4)
        out["steady"][metric] = held.get(metric)
        out["first_position_at_80pct_of_steady"][metric] = first_reaching(values, held.get(metric))
    return out


def first_reaching(values: list[float], steady: float | None) -> int | None:
    """The first position (1-based) whose value reaches REACH of a positive steady state; None when none does
    or there is no positive steady state to reach."""
    if not steady:
        return None
    return next((j + 1 for j, v in enumerate(values) if v >= REACH * steady), None)


def ratio_interval(ours: np.ndarray, best: np.ndarray, rng: np.random.Generator, draws: int) -> list[float]:
    """mean(ours) / mean(best) of per-history values float[n] and a 95% paired bootstrap interval (histories
    drawn with replacement, each keeping both values)."""
    observed = float(ours.mean() / max(best.mean(), 1e-12))
    idx = rng.integers(0, len(ours), size=(draws, len(ours)))
    low, high = np.quantile(ours[idx].mean(axis=1) / np.maximum(best[idx].mean(axis=1), 1e-12), [0.025, 0.975])
    return [round(observed, 3), round(float(low), 3), round(float(high), 3)]


def versus_best(ranks: dict[str, np.ndarray], rng: np.random.Generator, draws: int) -> dict[str, Any]:
    """The interest model's summed HR@10 over the first SUMMED positions against the best baseline's on the same
    histories (the baseline with the highest sum, picked on these histories)."""
    sums = summed_hits(ranks)
    best = max((n for n in sums if n not in (OURS, NO_SHIFT)), key=lambda n: float(sums[n].mean()))
    ratio, low, high = ratio_interval(sums[OURS], sums[best], rng, draws)
    return {"best_baseline": best, "ratio": ratio, "interval_95": [low, high], "histories": len(sums[OURS])}


def summed_hits(ranks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per model, each history's hits at 10 summed over the first SUMMED positions, float64[n]."""
    return {name: (r[:, :SUMMED] <= K).sum(axis=1).astype(np.float64) for name, r in ranks.items()}


def shift_gain(ranks: dict[str, np.ndarray], rng: np.random.Generator, draws: int) -> dict[str, Any] | None:
    """The interest model's summed HR@10 over the first SUMMED positions with its shift term against without it,
    on the same histories (None when the model has no shift term)."""
    if NO_SHIFT not in ranks:
        return None
    sums = summed_hits(ranks)
    ratio, low, high = ratio_interval(sums[OURS], sums[NO_SHIFT], rng, draws)
    changed = float(np.mean((ranks[OURS][:, :SUMMED] != ranks[NO_SHIFT][:, :SUMMED]).any(axis=1)))
    return {"ratio": ratio, "interval_95": [low, high], "histories_whose_ranks_moved": round(changed, 4)}


def kind_result(
    scored: Batch,
    ranks: dict[str, np.ndarray],
    kind: str,
    interests: tuple[NextInterest, Mix],
    trained: np.ndarray,
    rng: np.random.Generator,
    draws: int,
) -> dict[str, Any]:
    """Every model's recovery curve on one kind of history, the ratio to the best baseline, next-interest
    accuracy per position, and the shares of targets that repeat a seen item or whose item never trained
    (trained: bool[n_items])."""
    curve, steady = scored.curve[kind], scored.steady[kind]
    per_model = {name: r[curve] for name, r in ranks.items()}
    items = scored.targets.item[curve.ravel()]
    return {
        "histories": len(curve),
        "steady_targets": len(steady),
        "models": {name: curve_of(per_model[name], r[steady]) for name, r in ranks.items()},
        "tiderec_vs_best_baseline": versus_best(per_model, rng, draws) if len(curve) else None,
        "shift_term_gain": shift_gain(per_model, rng, draws) if len(curve) else None,
        "next_interest_top5": {
            "positions": [top5(*interests, scored, curve[:, j]) for j in range(curve.shape[1])],
            "steady": top5(*interests, scored, steady),
        },
        "targets_repeating_a_seen_item": round(float(repeats(scored, curve.ravel()).mean()), 4) if len(curve) else None,
        "targets_never_in_training": round(float(np.mean(~trained[items])), 4) if len(curve) else None,
    }


def repeats(scored: Batch, chosen: np.ndarray) -> np.ndarray:
    """bool[m]: whether each chosen target's item is already in the history it reads."""
    t = scored.targets
    return np.array([t.item[k] in set(t.history(scored.pseudo, k).tolist()) for k in chosen.tolist()], dtype=bool)


def run(key: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train on the development users of one dataset, build its histories from the test users, score them."""
    started = time.perf_counter()
    prepared = prepare(ensure_data(key, args.threads))
    space = interest_space(prepared.cleaned.items, prepared.inputs.vectors)
    ids = prepared.inter.user_vocab.ids.to_list()
    is_dev = np.array([half(u) == "dev" for u in ids], dtype=bool)
    dev = development(prepared, is_dev)
    config = TrainConfig(
        batch_size=BATCH.get(key, 256),
        threads=args.threads,
        device="cpu",
        seed=args.seed,
        max_minutes=args.max_minutes * TIME_SHARE.get(key, 1.0),
    )
    print(f"{key}: training on {int(is_dev.sum())} development users", flush=True)
    scorers, records = fit_models(dev, config, space.codes)
    interests = next_interest(dev, space)
    test_users = [u for u in np.flatnonzero(~is_dev).tolist() if prepared.inter.lengths()[u] > 0]
    rng = np.random.default_rng(args.seed)
    cases: dict[str, list[Case]] = {
        "splice": splices(prepared.inter, space.codes, test_users, args.splices, args.positions, rng),
        "move": moves(prepared.inter, space.codes, test_users, args.positions),
    }
    relative = relative_changes(cases["move"])
    cases["control"] = controls(prepared.inter, space.codes, test_users, relative, args.control, args.positions, rng)
    scored = batch(prepared.inter, cases, settle(config, dev.split.train).config.window)
    trained = np.bincount(dev.split.train.item, minlength=prepared.inter.n_items) > 0
    truth = scored.targets.item
    ranks = {name: ranks_of(scorer, scored.arrays, truth) for name, scorer in scorers.items()}
    boot = np.random.default_rng(args.seed)
    kinds = {kind: kind_result(scored, ranks, kind, interests, trained, boot, args.boot) for kind in KINDS}
    return {
        "interest_space": space.source,
        "interests": len(space.labels),
        "users": {"development": int(is_dev.sum()), "test": len(test_users)},
        "targets_scored": len(scored.targets),
        "train_config": {"max_minutes": config.max_minutes, "batch_size": config.batch_size, "seed": config.seed},
        "training": records,
        "next_interest_mix": interests[1].__dict__,
        "kinds": kinds,
        "seconds": round(time.perf_counter() - started, 1),
    }


MODELS = (
    "tiderec (registry defaults, scored by SequenceModel.scores with its co-occurrence and new-interest shift "
    "terms, weights chosen on the development users' validation, as `tiderec evaluate` and the service score), "
    f"{NO_SHIFT} (the same trained model, shift weight 0), sasrec, markov, itemknn, pop, last interest (the last "
    "event's interest's items by popularity, then the rest); exploration off"
)


def markdown(meta: dict[str, Any], results: dict[str, Any], positions: int) -> str:
    """Per dataset and kind: HR@10 and NDCG@10 tables by position, the ratio line and next-interest accuracy."""
    lines = ["# Recovery after an interest change: accuracy at positions 1..P after the change", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    for key, res in results.items():
        lines += ["", f"## {key}: {res['interest_space']} ({res['interests']} interests)", ""]
        lines.append(
            f"Users: {res['users']['development']} development (training), {res['users']['test']} test (scored); "
            f"{res['targets_scored']:,} targets scored per model; {res['seconds']:.0f} s."
        )
        lines += [
            "",
            "| model | seconds | best epoch | epochs run | stopped | valid NDCG@10 | co-occurrence weight "
            "| shift weight |",
        ]
        lines.append("|---|---:|---:|---:|---|---:|---:|---:|")
        for name, r in res["training"].items():
            cells = [r.get(c) for c in ("seconds", "best_epoch", "epochs_run", "stopped", "valid_ndcg@10")]
            cells += [r.get("neighbour_weight"), r.get("shift_weight")]
            lines.append(f"| {name} | " + " | ".join("" if c is None else str(c) for c in cells) + " |")
        for kind, title in KINDS.items():
            lines += kind_markdown(key, title, res["kinds"][kind], positions)
    return "\n".join(lines) + "\n"


def kind_markdown(key: str, title: str, res: dict[str, Any], positions: int) -> list[str]:
    """The tables of one dataset and kind."""
    head = " | ".join(str(j) for j in range(1, positions + 1))
    lines = ["", f"### {key}: {title}", ""]
    lines.append(
        f"Histories: {res['histories']} (n per position cell); steady-state targets: {res['steady_targets']}; "
        f"targets repeating an item of their history: {res['targets_repeating_a_seen_item']}; "
        f"target items never in the training rows: {res['targets_never_in_training']}."
    )
    for metric in (f"hr@{K}", f"ndcg@{K}"):
        lines += ["", f"| {metric.upper()} | {head} | sum 1-{SUMMED} | steady | first >= {REACH:.0%} of steady |"]
        lines.append("|---|" + "---:|" * (positions + 3))
        for name, m in res["models"].items():
            cells = " | ".join(f"{v:.4f}" for v in m[metric])
            steady = m["steady"][metric]
            reached = m["first_position_at_80pct_of_steady"][metric]
            reach = "n/a (steady 0)" if not steady else str(reached) if reached is not None else f"> {positions}"
            lines.append(
                f"| {name} | {cells} | {m[f'sum_{metric}_1_{SUMMED}']:.4f} | "
                f"{'' if steady is None else f'{steady:.4f}'} | {reach} |"
            )
    versus = res["tiderec_vs_best_baseline"]
    if versus:
        low, high = versus["interval_95"]
        lines += [
            "",
            f"tiderec / best baseline ({versus['best_baseline']}), summed HR@10 over positions 1-{SUMMED}: "
            f"{versus['ratio']:.3f} [{low:.3f}, {high:.3f}] "
            f"(95% paired bootstrap over {versus['histories']} histories)",
        ]
    gain = res.get("shift_term_gain")
    if gain:
        low, high = gain["interval_95"]
        lines += [
            "",
            f"tiderec / tiderec without shift (the migration signal's own gain), summed HR@10 over positions "
            f"1-{SUMMED}: {gain['ratio']:.3f} [{low:.3f}, {high:.3f}]; histories whose ranks moved: "
            f"{gain['histories_whose_ranks_moved']:.1%}",
        ]
    acc = res["next_interest_top5"]
    lines += ["", f"| next-interest top-5 | {head} | steady |", "|---|" + "---:|" * (positions + 1)]
    for name in ("NextInterest", LAST):
        cells = " | ".join(f"{p[name]:.4f}" for p in acc["positions"])
        lines.append(f"| {name} | {cells} | {acc['steady'][name]:.4f} |")
    return lines


def svg(results: dict[str, Any], positions: int) -> str:
    """A self-contained SVG: HR@10 by position for each model, one panel per dataset x kind."""
    width, height = PANEL
    keys = list(results)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * len(KINDS)}" height="{height * len(keys) + 40}" '
        'font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for i, (name, colour) in enumerate(COLOURS.items()):
        x = 10 + i * 110
        parts.append(f'<line x1="{x}" y1="16" x2="{x + 20}" y2="16" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{x + 24}" y="20">{name}</text>')
    parts.append(f'<text x="{10 + len(COLOURS) * 110}" y="20">dashed: {OURS} steady state</text>')
    for row, key in enumerate(keys):
        for col, kind in enumerate(KINDS):
            res = results[key]["kinds"][kind]
            title = f"{key}: {kind}, HR@{K} (n={res['histories']})"
            parts += panel(res, title, col * width, 40 + row * height, positions)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def panel(res: dict[str, Any], title: str, left: int, top: int, positions: int) -> list[str]:
    """One chart: axes, a polyline per model, the title."""
    (w, h), pad = PANEL, 42
    values = [v for m in res["models"].values() for v in m[f"hr@{K}"] if v == v]
    peak = max(0.05, float(np.ceil(max(values, default=0.05) * 20) / 20))
    x0, y0, x1, y1 = left + pad, top + h - pad + 10, left + w - 12, top + 28

    def xy(j: int, v: float) -> str:
        x = x0 + (x1 - x0) * (j / max(positions - 1, 1))
        return f"{x:.1f},{y0 - (y0 - y1) * v / peak:.1f}"

    out = [f'<text x="{left + pad}" y="{top + 16}" font-weight="bold">{title}</text>']
    out.append(f'<polyline points="{x0},{y1} {x0},{y0} {x1},{y0}" fill="none" stroke="black"/>')
    for frac in (0.0, 0.5, 1.0):
        y = y0 - (y0 - y1) * frac
        out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{peak * frac:.3g}</text>')
    for j in range(positions):
        out.append(f'<text x="{xy(j, 0).split(",")[0]}" y="{y0 + 14}" text-anchor="middle">{j + 1}</text>')
    out.append(f'<text x="{(x0 + x1) / 2:.0f}" y="{y0 + 28}" text-anchor="middle">position after the change</text>')
    for name, m in res["models"].items():
        points = " ".join(xy(j, v) for j, v in enumerate(m[f"hr@{K}"]) if v == v)
        out.append(f'<polyline points="{points}" fill="none" stroke="{COLOURS[name]}" stroke-width="2"/>')
    steady = res["models"].get(OURS, {}).get("steady", {}).get(f"hr@{K}")
    if steady is not None and steady <= peak:
        line = f"{xy(0, steady)} {xy(positions - 1, steady)}"
        out.append(f'<polyline points="{line}" fill="none" stroke="{COLOURS[OURS]}" stroke-dasharray="4 3"/>')
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; more positions than a real move holds in new interests is refused."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="or5,taobao", help="comma-separated: or5, taobao")
    parser.add_argument("--max-minutes", type=float, default=4.0, help="per neural model on or5 (taobao: half)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--positions", type=int, default=10, help=f"positions after the change (1..{LASTING})")
    parser.add_argument("--splices", type=int, default=300)
    parser.add_argument("--control", type=int, default=500, help="control users at most")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap draws")
    args = parser.parse_args(argv)
    if not 1 <= args.positions <= LASTING:
        raise SystemExit(
            f"--positions {args.positions}: a real lasting move holds {LASTING} events in its new interests "
            f"(dynamics.lasting.LASTING), so only positions 1..{LASTING} after the change exist in every history"
        )
    args.keys = [k.strip() for k in args.datasets.split(",") if k.strip()]
    unknown = sorted(set(args.keys) - set(TIME_SHARE))
    if unknown or not args.keys:
        raise SystemExit(f"--datasets: {unknown or 'none given'}; choose from {sorted(TIME_SHARE)}")
    return args


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces the run."""
    return (
        f"python -m benchmarks.bench_recovery --datasets {','.join(args.keys)} --max-minutes {args.max_minutes:g} "
        f"--seed {args.seed} --positions {args.positions} --splices {args.splices} --control {args.control} "
        f"--threads {args.threads}"
    )


def write(meta: dict[str, Any], results: dict[str, Any], positions: int, folder: Path = RESULTS) -> None:
    """recovery.json, recovery.md and recovery.svg."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recovery.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    (folder / "recovery.md").write_text(markdown(meta, results, positions))
    (folder / "recovery.svg").write_text(svg(results, positions))


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "command": command(args),
        "protocol": " ".join((__doc__ or "").split("\n\n")[2].split()),
        "models": MODELS,
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": f"CPU ({args.threads} threads); {platform.platform()}",
    }
    for key in args.keys:
        results[key] = run(key, args)
        meta["seconds"] = round(time.perf_counter() - started, 1)
        write(meta, results, args.positions)
    print(markdown(meta, results, args.positions))


if __name__ == "__main__":
    main()
