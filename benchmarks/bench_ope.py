"""Off-policy evaluation on the Open Bandit Dataset, the project's policies valued off-policy, and policy cost.

Usage:
  .venv/bin/python -m benchmarks.bench_ope [--boot 2000] [--requests 3000]

1. Per campaign (all, men, women): the Bernoulli-TS policy's CTR estimated by IPS, SNIPS and DR from the
   uniform-random policy's log only, against its on-policy CTR in its own log. The BTS action distribution
   per position is its (item, position) frequency in its own log (BTS is context-free; OBP instead simulates
   it from the ZOZOTOWN Beta priors, not shipped here); no BTS reward enters the estimate.
2. The project's policies valued on the second (later) half of the random log, their scores and Beta state
   fitted on the first half only (so nothing is valued on the rounds it learned from).
3. Policy step latency per request (100 candidates, k=10).
Writes benchmarks/results/ope_obd.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_models import git_commit
from tiderec.data.bandit import BanditLog
from tiderec.evaluation.ope import ESTIMATORS, Estimate, dr, empirical_action_dist, ips, on_policy, snips
from tiderec.evaluation.reward import cross_fitted_rates, rate_table
from tiderec.explore.greedy import EpsilonConfig, EpsilonGreedy, Greedy
from tiderec.explore.linear import LinearState, LinearThompson
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.explore.seeding import request_seed
from tiderec.explore.softmax import PlackettLuce, SoftmaxConfig
from tiderec.explore.thompson import BetaState, ThompsonConfig, ThompsonSampling
from tiderec.ingest.bandit import read_open_bandit
from tiderec.ingest.datasets import data_root

RESULTS = Path(__file__).resolve().parent / "results"
CAMPAIGNS = ("all", "men", "women")


def estimates(log: BanditLog, dist: np.ndarray, boot: int) -> dict[str, Estimate]:
    """IPS, SNIPS and DR (cross-fitted smoothed-CTR reward model) of one action distribution on one log."""
    return {
        "ips": ips(log, dist, n_boot=boot),
        "snips": snips(log, dist, n_boot=boot),
        "dr": dr(log, dist, cross_fitted_rates(log), n_boot=boot),
    }


def row(est: Estimate, truth: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": est.value, "low": est.low, "high": est.high, "rounds": est.rounds}
    if truth is not None:
        out |= {"relative_error": abs(est.value - truth) / truth, "covers_truth": est.covers(truth)}
    return out


def bts_from_random(campaign: str, boot: int) -> dict[str, Any]:
    root = data_root() / "open-bandit"
    random = read_open_bandit(root / "random" / campaign / f"{campaign}.csv")
    bts = read_open_bandit(root / "bts" / campaign / f"{campaign}.csv")
    truth = on_policy(bts.rewards, n_boot=boot)
    random_ctr = float(random.rewards.mean())
    est = estimates(random, empirical_action_dist(bts), boot)
    return {
        "rounds": len(random),
        "actions": random.n_actions,
        "random_ctr": random_ctr,
        "bts_on_policy": row(truth),
        "true_lift": truth.value / random_ctr,
        "estimates": {name: row(e, truth.value) | {"lift": e.value / random_ctr} for name, e in est.items()},
    }


def own_policies(campaign: str, boot: int) -> dict[str, Any]:
    """Policies over all items, k = 3 positions, scored by the first half's smoothed CTR; valued on the second."""
    log = read_open_bandit(data_root() / "open-bandit" / "random" / campaign / f"{campaign}.csv")
    half = len(log) // 2
    fit, held = log.subset(np.arange(half)), log.subset(np.arange(half, len(log)))
    ctr = rate_table(fit).mean(axis=1)
    clicks = np.bincount(fit.actions, weights=fit.rewards, minlength=fit.n_actions)
    shown = np.bincount(fit.actions, minlength=fit.n_actions).astype(float)
    policies: dict[str, Policy] = {
        "greedy": Greedy(),
        "epsilon (0.1)": EpsilonGreedy(EpsilonConfig(eps_min=0.1, eps_max=0.1)),
        "softmax (T=0.5 on log-CTR)": PlackettLuce(SoftmaxConfig(temperature=0.5, simulations=20000)),
        "thompson (per item)": ThompsonSampling(BetaState(clicks, shown - clicks), ThompsonConfig(simulations=20000)),
    }
    request = ExploreRequest(np.arange(log.n_actions), np.log(ctr), log.n_positions)
    dists = {name: p.marginals(request, np.random.default_rng(0)) for name, p in policies.items()}
    dists["uniform random (the logging policy: a check)"] = np.full((log.n_actions, log.n_positions), 1 / log.n_actions)
    out: dict[str, Any] = {"fit_rounds": half, "held_rounds": len(held), "held_ctr": float(held.rewards.mean())}
    for name, dist in dists.items():
        out[name] = {k: row(v) for k, v in estimates(held, dist, boot).items()}
    return out


def latency(requests: int, candidates: int = 100, k: int = 10, dim: int = 64) -> dict[str, Any]:
    """Microseconds per select() (marginals included) over `requests` requests with fresh scores."""
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(200, candidates, dim)).astype(np.float64)
    scores = rng.normal(size=(200, candidates))
    linear = LinearState.prior(dim).update(rng.normal(size=(2000, dim)), rng.random(2000))
    policies: dict[str, Policy] = {
        "greedy": Greedy(),
        "epsilon": EpsilonGreedy(),
        "softmax (128 simulations)": PlackettLuce(),
        "thompson (128 simulations)": ThompsonSampling(BetaState(rng.random(1000) * 20, rng.random(1000) * 200)),
        f"linear-ts d={dim} (128 simulations)": LinearThompson(linear),
    }
    out: dict[str, Any] = {}
    for name, policy in policies.items():
        times = []
        for r in range(requests):
            req = ExploreRequest(
                rng.choice(1000, size=candidates, replace=False), scores[r % 200], k, 0.5, feats[r % 200]
            )
            start = time.perf_counter_ns()
            policy.select(req, request_seed(1, r))
            times.append((time.perf_counter_ns() - start) / 1000)
        out[name] = {"p50_us": float(np.percentile(times, 50)), "p99_us": float(np.percentile(times, 99))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    meta = {
        "command": f"python -m benchmarks.bench_ope --boot {args.boot} --requests {args.requests}",
        "dataset": "Open Bandit Dataset, small version shipped (10,000 rounds per policy and campaign)",
        "interval": f"95% percentile bootstrap over rounds ({args.boot} resamples)",
        "device": f"CPU; {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    results = {
        "meta": meta,
        "bts_from_random": {c: bts_from_random(c, args.boot) for c in CAMPAIGNS},
        "own_policies": {c: own_policies(c, args.boot) for c in CAMPAIGNS},
        "latency": latency(args.requests),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ope_obd.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "ope_obd.md").write_text(markdown(results))
    print(markdown(results))


def _pct(x: float) -> str:
    return f"{100 * x:.3f}%"


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = ["# Off-policy evaluation on the Open Bandit Dataset", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += [
        "",
        "## Bernoulli-TS valued from the random policy's log (truth: BTS on-policy CTR in its own log)",
        "",
        "| campaign | estimator | estimate | 95% interval | truth (95% interval) | relative error | covers | "
        "estimated lift | true lift |",
        "|---|---|---:|---|---|---:|---|---:|---:|",
    ]
    for campaign, res in results["bts_from_random"].items():
        t = res["bts_on_policy"]
        for name in ESTIMATORS:
            e = res["estimates"][name]
            lines.append(
                f"| {campaign} | {name} | {_pct(e['value'])} | {_pct(e['low'])} – {_pct(e['high'])} | "
                f"{_pct(t['value'])} ({_pct(t['low'])} – {_pct(t['high'])}) | {e['relative_error']:.3f} | "
                f"{'yes' if e['covers_truth'] else 'no'} | x{e['lift']:.2f} | x{res['true_lift']:.2f} |"
            )
    lines += [
        "",
        "## The project's policies valued off-policy (scores and Beta state from the first half of the random "
        "log, valued on the second half; no ground truth exists for these)",
        "",
        "| campaign | policy | IPS | SNIPS | DR (95% interval) |",
        "|---|---|---:|---:|---|",
    ]
    for campaign, res in results["own_policies"].items():
        for name, est in res.items():
            if not isinstance(est, dict):
                continue
            d = est["dr"]
            lines.append(
                f"| {campaign} | {name} | {_pct(est['ips']['value'])} | {_pct(est['snips']['value'])} | "
                f"{_pct(d['value'])} ({_pct(d['low'])} – {_pct(d['high'])}) |"
            )
    lines += ["", "## Policy step per request (100 candidates, k = 10, propensities included)", ""]
    lines += ["| policy | p50 µs | p99 µs |", "|---|---:|---:|"]
    lines += [f"| {n} | {v['p50_us']:.0f} | {v['p99_us']:.0f} |" for n, v in results["latency"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
