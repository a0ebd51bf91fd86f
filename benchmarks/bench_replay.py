"""Exploration policies replayed on a real log in time order (Taobao UserBehavior sample).

Usage:
  .venv/bin/python -m benchmarks.bench_replay [--days 2] [--k 10] [--candidates 100] [--seed 0]

ItemKNN (co-occurrence) is fitted on every event before the last `--days` days; then, before each real event
in those days, each policy serves k of the scorer's top candidates to that user. Same stream, same per-request
seeds for every policy. Writes benchmarks/results/replay_taobao.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from benchmarks.bench_models import RESULTS, RUNS, ensure_data, git_commit
from tiderec.clean.store import read_cleaned
from tiderec.cli.experiment import read_log
from tiderec.data.categories import ItemCategories
from tiderec.data.interactions import Interactions
from tiderec.evaluation.experiment import ExperimentReport, analyse
from tiderec.evaluation.replay import (
    ReplayConfig,
    ReplayStream,
    ab_replay,
    build_stream,
    hit_rate_difference,
    replay,
)
from tiderec.explore.assign import ExperimentConfig
from tiderec.explore.greedy import EpsilonConfig, EpsilonGreedy, Greedy
from tiderec.explore.log import exposure_table
from tiderec.explore.policy import Policy
from tiderec.explore.softmax import PlackettLuce, SoftmaxConfig
from tiderec.explore.thompson import BetaState, ThompsonConfig, ThompsonSampling
from tiderec.models.itemknn import ItemKNN
from tiderec.types import DAY_US, Events


def policies(categories: ItemCategories, mean_uncertainty: float) -> dict[str, Policy]:
    """Pure exploitation; drift-aware epsilon against fixed epsilon at the same mean rate (same exploration
    budget, spent differently); softmax; Thompson sampling per category on top of the scorer."""
    n_cats = len(categories.names)
    groups = np.where(categories.codes < 0, n_cats, categories.codes)
    aware = EpsilonConfig(eps_min=0.0, eps_max=0.3)
    matched = aware.eps_max * mean_uncertainty
    return {
        "greedy (pure exploitation)": Greedy(),
        f"epsilon fixed {matched:.3f} (same mean rate)": EpsilonGreedy(EpsilonConfig(matched, matched)),
        "epsilon drift-aware 0-0.3": EpsilonGreedy(aware),
        "softmax drift-aware (T=0.05, boost 3)": PlackettLuce(SoftmaxConfig(temperature=0.05, boost=3.0)),
        "thompson per category + score": ThompsonSampling(
            BetaState.empty(n_cats + 1, groups), ThompsonConfig(score_weight=1.0)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = ReplayConfig(k=args.k, candidates=args.candidates, seed=args.seed)
    cleaned = read_cleaned(ensure_data("taobao", 2))
    inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
    categories = ItemCategories.of(cleaned.items)
    start_ts = int(inter.ts.max() - args.days * DAY_US)
    scorer = ItemKNN(inter.take(inter.ts < start_ts))
    began = time.perf_counter()
    stream = build_stream(inter, categories.codes, start_ts, scorer.score, config)
    results = replay(stream, policies(categories, float(stream.uncertainty.mean())), categories.codes, config)
    summaries = []
    for r in results:
        diff, low, high = hit_rate_difference(r, results[0], stream.user)
        summaries.append(r.summary(config.horizon) | {"item_hit_diff_vs_greedy": [diff, low, high]})
    meta = {
        "command": f"python -m benchmarks.bench_replay --days {args.days:g} --k {args.k} "
        f"--candidates {args.candidates} --seed {args.seed}",
        "dataset": cleaned.events.meta.get("source", "taobao-userbehavior"),
        "scorer": "ItemKNN fitted on events before the replay window",
        "replayed_events": len(stream),
        "users": len(np.unique(stream.user)),
        "items": inter.n_items,
        "mean_uncertainty": float(stream.uncertainty.mean()),
        "reward": "item hit: the event's item was in the served list; policies learn from category hits",
        "new_interest": f"a category new to the user after >= {config.min_history} events; delay 0 = the list "
        f"served just before it already showed the category; censored at {config.horizon + 1}",
        "device": f"CPU; {platform.platform()}",
        "seconds": round(time.perf_counter() - began, 1),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    aware, fixed = results[2], results[1]
    diff, low, high = hit_rate_difference(aware, fixed, stream.user)
    meta["drift_aware_vs_fixed_same_rate_item_hit_diff"] = f"{diff:+.4f} (95% CI {low:+.4f}, {high:+.4f})"
    experiment = run_experiment(inter, cleaned.events, stream, categories, config, start_ts)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "replay_taobao.json").write_text(
        json.dumps({"meta": meta, "policies": summaries, "experiment": experiment.to_dict()}, indent=2) + "\n"
    )
    text = markdown(meta, summaries, config.horizon) + "\n" + experiment.markdown().replace("# ", "## A/B replay: ", 1)
    (RESULTS / "replay_taobao.md").write_text(text)
    print(text)


def run_experiment(
    inter: Interactions,
    events: Events,
    stream: ReplayStream,
    categories: ItemCategories,
    config: ReplayConfig,
    start_ts: int,
) -> ExperimentReport:
    """Users split by keyed hash between pure exploitation and drift-aware Thompson-on-score; the exposure log
    and the window's real events go to runs/bench/taobao/ab/ and into `tiderec experiment report`'s analysis."""
    n_cats = len(categories.names)
    groups = np.where(categories.codes < 0, n_cats, categories.codes)
    arms = {
        "greedy": Greedy(),
        "thompson": ThompsonSampling(BetaState.empty(n_cats + 1, groups), ThompsonConfig(score_weight=1.0)),
    }
    exp = ExperimentConfig(name="explore-2026-11", variants=("greedy", "thompson"))
    rows = ab_replay(
        stream,
        exp,
        arms,
        b"bench-key",
        inter.user_vocab.ids.to_list(),
        inter.item_vocab.ids.to_list(),
        categories.codes,
        config,
    )
    out = RUNS / "taobao" / "ab"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(exposure_table(rows), out / "exposures.parquet")
    window = events.frame.filter(pl.col("ts").dt.epoch("us") >= start_ts)
    window.write_parquet(out / "outcomes.parquet")
    return analyse(
        read_log(out / "exposures.parquet", "exposures"), read_log(out / "outcomes.parquet", "outcomes"), "greedy"
    )


def markdown(meta: dict[str, Any], rows: list[dict[str, Any]], horizon: int) -> str:
    lines = ["# Exploration policies replayed on Taobao (time order)", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += [
        "",
        "| policy | item hit rate | vs greedy (95% CI, users resampled) | category hit rate | coverage | "
        f"explored share | new interests | anticipated | served next | served within {horizon} | mean delay |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, lo, hi = r["item_hit_diff_vs_greedy"]
        lines.append(
            f"| {r['policy']} | {r['item_hit_rate']:.4f} | {d:+.4f} ({lo:+.4f}, {hi:+.4f}) | "
            f"{r['category_hit_rate']:.4f} | {r['coverage']:.4f} | "
            f"{r['explored_share']:.3f} | {r['new_interests']} | {r['new_interest_anticipated']:.3f} | "
            f"{r['new_interest_served_next']:.3f} | {r[f'new_interest_served_within_{horizon}']:.3f} | "
            f"{r['new_interest_mean_delay']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
