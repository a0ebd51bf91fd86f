"""Run several models on the same split and hardware, test once each, and tabulate the results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiderec.data.splits import Targets
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import Prepared, Trained, train_model
from tiderec.train.validate import SCORINGS, evaluate_targets

COLD_BELOW = 5
"""Test targets whose item has fewer training interactions than this form the 'cold items' slice."""


@dataclass(frozen=True)
class ModelSpec:
    """One entry of a side-by-side run: registry name, settings, and the label it is reported under."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass
class ModelResult:
    label: str
    model: str
    test: dict[str, dict[str, float]]
    cold: dict[str, dict[str, float]]
    best_epoch: int | None
    epochs_run: int | None
    seconds_per_epoch: float | None
    seconds: float
    settings: dict[str, Any]
    valid: dict[str, dict[str, float]] | None = None
    """The validation metrics at the best epoch (what model selection saw); None for untrained models."""
    samples_per_second: float | None = None
    neighbour_weight: float | None = None
    """The interest model's co-occurrence weight chosen on validation (None: no such term)."""
    shift_weight: float | None = None
    """The interest model's new-interest shift weight chosen on validation (None: no such term)."""
    ema_decay: float | None = None
    """The weights chosen on validation: the average's decay, 0.0 the raw weights (None: no average kept)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def cold_targets(prepared: Prepared, below: int = COLD_BELOW) -> Targets:
    """Test targets whose item has fewer than `below` training interactions."""
    counts = np.bincount(prepared.split.train.item, minlength=prepared.inter.n_items)
    test = prepared.split.test
    keep = counts[test.item] < below
    return test.take(keep)


def score_test(prepared: Prepared, trained: Trained, progress: bool = True) -> ModelResult:
    """Score the test targets once (both scorings), overall and on cold items, each history cut to the window the
    model was trained with."""
    max_len = trained.train_config.window
    test = evaluate_targets(trained.scorer, prepared.inter, prepared.split.test, max_len, ("A", "B"), progress=progress)
    cold = cold_targets(prepared)
    cold_metrics = evaluate_targets(trained.scorer, prepared.inter, cold, max_len, ("A", "B")) if len(cold) else {}
    r = trained.result
    return ModelResult(
        label=trained.name,
        model=trained.model_name,
        test=test,
        cold=cold_metrics,
        best_epoch=None if r is None else r.best_epoch,
        epochs_run=None if r is None else r.epochs_run,
        seconds_per_epoch=None if r is None else r.seconds_per_epoch,
        seconds=round(trained.seconds, 1),
        settings=trained.model_config,
        valid=None if r is None else r.best_valid,
        samples_per_second=None if r is None else r.samples_per_second,
        neighbour_weight=None if r is None else r.neighbour_weight,
        shift_weight=None if r is None else r.shift_weight,
        ema_decay=None if r is None else r.ema_decay,
    )


def run(
    prepared: Prepared,
    specs: Sequence[ModelSpec],
    train_config: TrainConfig | Callable[[ModelSpec], TrainConfig],
    progress: bool = True,
    on_result: Callable[[Trained, ModelResult, TrainConfig], None] | None = None,
) -> list[ModelResult]:
    """Train/fit and test every model in turn on the same split; `train_config` may be a function asked just
    before each model is trained (a time budget shared out as the run goes); `on_result` sees each one as it
    finishes (to save a model or write partial tables)."""
    results = []
    for spec in specs:
        config = train_config(spec) if callable(train_config) else train_config
        trained = train_model(prepared, spec.name, config, spec.settings, spec.title, progress)
        result = score_test(prepared, trained, progress)
        results.append(result)
        if on_result is not None:
            on_result(trained, result, config)
    return results


METRIC_COLUMNS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10", "coverage@10")


def markdown(results: Sequence[ModelResult], meta: dict[str, Any]) -> str:
    """One table per scoring (and the cold-item slice), models as rows."""
    lines = [f"# {meta.get('title', 'Evaluation')}", ""]
    for key in ("command", "dataset", "protocol", "split", "device", "commit", "note", "date"):
        if key in meta:
            lines.append(f"- {key}: {meta[key]}")
    lines.append("")
    for scoring, meaning in SCORINGS.items():
        for slice_name, pick in (
            ("all test targets", "test"),
            (f"test items with < {COLD_BELOW} training interactions", "cold"),
        ):
            rows = [(r, getattr(r, pick).get(scoring)) for r in results if getattr(r, pick).get(scoring)]
            if not rows:
                continue
            n = int(rows[0][1]["targets"])
            lines += [f"## ({scoring}) {meaning}: {slice_name} ({n:,})", ""]
            extra = " | valid ndcg@10 | best epoch | s/epoch | samples/s |"
            lines.append("| model | " + " | ".join(METRIC_COLUMNS) + extra)
            lines.append("|---|" + "---:|" * (len(METRIC_COLUMNS) + 4))
            for r, m in rows:
                cells = " | ".join(f"{m.get(c, float('nan')):.4f}" for c in METRIC_COLUMNS)
                epoch = "" if r.best_epoch is None else str(r.best_epoch)
                speed = "" if r.seconds_per_epoch is None else f"{r.seconds_per_epoch:.1f}"
                seen = (r.valid or {}).get(scoring, {}).get("ndcg@10")
                valid = "" if seen is None else f"{seen:.4f}"
                rate = f"{r.samples_per_second:,.0f}" if r.samples_per_second else ""
                lines.append(f"| {r.label} | {cells} | {valid} | {epoch} | {speed} | {rate} |")
            lines.append("")
    return "\n".join(lines)
