"""Next-interest prediction (leave-one-out; mix selected on validation targets, tested once) against the
last-interest and popularity baselines, on Taobao (leaf categories) and the Online Retail reference split
(clusters of item language-model vectors).

Usage:
  .venv/bin/python -m benchmarks.bench_shortterm
Writes benchmarks/results/shortterm.{json,md}.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, ensure_data, git_commit
from tiderec.data.space import interest_space
from tiderec.data.splits import Targets, leave_one_out
from tiderec.dynamics.shortterm import NextInterest, choose_mix, histories_of, top_k_accuracy
from tiderec.train.experiment import prepare


def known(targets: Targets, codes: np.ndarray) -> Targets:
    return targets.take(codes[targets.item] >= 0)


def run(name: str) -> dict[str, Any]:
    prepared = prepare(ensure_data(name, 2))
    inter = prepared.inter
    space = interest_space(prepared.cleaned.items, prepared.inputs.vectors)
    split = leave_one_out(inter)
    model = NextInterest(split.train, space.codes, len(space.labels))
    valid, test = known(split.valid, space.codes), known(split.test, space.codes)
    mix = choose_mix(model, histories_of(inter, valid), space.codes[valid.item])
    hist, truth = histories_of(inter, test), space.codes[test.item]
    pop = np.tile(model.popularity, (len(hist), 1))
    return {
        "interests": len(space.labels),
        "interest_space": space.source,
        "test_targets": len(test),
        "mix": asdict(mix),
        "tiderec (recent + transitions + popularity)": top_k_accuracy(model.scores(hist, mix), truth),
        "last interest": top_k_accuracy(model.last_interest(hist), truth),
        "popularity": top_k_accuracy(pop, truth),
    }


def main() -> None:
    results = {name: run(name) for name in ("taobao", "or5")}
    meta = {
        "command": "python -m benchmarks.bench_shortterm",
        "protocol": "leave-one-out: last event = test, second-to-last = validation (mix chosen there); "
        "targets whose item has no interest are left out",
        "device": f"CPU; {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "shortterm.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = ["# Next-interest prediction", ""] + [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| dataset | interests | test targets | predictor | top-1 | top-5 |", "|---|---:|---:|---|---:|---:|"]
    for name, r in results.items():
        for predictor in ("tiderec (recent + transitions + popularity)", "last interest", "popularity"):
            acc = r[predictor]
            lines.append(
                f"| {name} | {r['interests']} | {r['test_targets']} | {predictor} | "
                f"{acc['top1']:.4f} | {acc['top5']:.4f} |"
            )
    text = "\n".join(lines) + "\n"
    (RESULTS / "shortterm.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
