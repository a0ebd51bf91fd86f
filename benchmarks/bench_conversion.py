"""Cart-or-purchase probability for viewed items on Taobao, against a popularity + recency baseline.

Usage:
  .venv/bin/python -m benchmarks.bench_conversion
Cut times at each UTC midnight: the first days train (and the L2 strength is chosen on the day before the
test days), the last two cut times test, once. Writes benchmarks/results/conversion.{json,md}.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, ensure_data, git_commit
from tiderec.data.space import interest_space
from tiderec.dynamics.conversion import BASELINE, FEATURES, Examples, examples_at
from tiderec.dynamics.logistic import auc, calibration_error, fit_logistic, log_loss
from tiderec.train.experiment import prepare
from tiderec.types import DAY_US


def metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {"auc": auc(probs, labels), "log_loss": log_loss(probs, labels), "ece": calibration_error(probs, labels)}


def main() -> None:
    prepared = prepare(ensure_data("taobao", 2))
    inter = prepared.inter
    space = interest_space(prepared.cleaned.items, prepared.inputs.vectors)
    first = (int(inter.ts.min()) // DAY_US + 1) * DAY_US
    cuts = list(range(first + DAY_US, int(inter.ts.max()), DAY_US))
    per_cut = {c: examples_at(inter, space.codes, c) for c in cuts}
    train_cuts, valid_cut, test_cuts = cuts[:-3], cuts[-3], cuts[-2:]
    train = Examples.concat([per_cut[c] for c in train_cuts])
    valid, test = per_cut[valid_cut], Examples.concat([per_cut[c] for c in test_cuts])
    best = min(
        (1e-3, 1e-2, 1e-1, 1.0, 10.0),
        key=lambda l2: log_loss(fit_logistic(train.features, train.labels, l2).predict(valid.features), valid.labels),
    )
    fit_on = Examples.concat([train, valid])
    ours = fit_logistic(fit_on.features, fit_on.labels, best)
    base = fit_logistic(fit_on.features[:, BASELINE], fit_on.labels, best)
    results: dict[str, Any] = {
        "tiderec (interest-state features)": metrics(ours.predict(test.features), test.labels),
        "baseline (popularity + recency)": metrics(base.predict(test.features[:, BASELINE]), test.labels),
        "constant (training rate)": metrics(np.full(len(test.labels), fit_on.labels.mean()), test.labels),
    }
    meta = {
        "command": "python -m benchmarks.bench_conversion",
        "dataset": prepared.source,
        "candidates": "items viewed in the 24 h before a cut; label: carted or bought in the 24 h after",
        "train_examples": len(fit_on.labels),
        "test_examples": len(test.labels),
        "test_positive_rate": float(test.labels.mean()),
        "l2": best,
        "features": list(FEATURES),
        "weights": dict(zip(FEATURES, np.round(ours.weights, 3).tolist(), strict=True)),
        "device": f"CPU; {platform.platform()}",
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "conversion.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = ["# Cart-or-purchase probability of viewed items (Taobao)", ""] + [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| model | AUC | log-loss | calibration error |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['auc']:.4f} | {v['log_loss']:.4f} | {v['ece']:.4f} |" for k, v in results.items()]
    text = "\n".join(lines) + "\n"
    (RESULTS / "conversion.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
