"""After training: fill the interest model's history terms and choose their weights on validation. The terms are
off while training, so the targets' own co-occurrences never teach them: the co-occurrence term (ItemKNN
similarity over the training sequences) and the new-interest shift term (each item's interest)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from tiderec.config import resolve_device
from tiderec.data.interactions import Interactions
from tiderec.data.splits import Targets
from tiderec.models.interest import InterestModel
from tiderec.models.itemknn import cooccurrence_similarity
from tiderec.models.scorer import TorchScorer
from tiderec.train.config import TrainConfig
from tiderec.train.loop import AVERAGE_TERM, TrainResult
from tiderec.train.validate import evaluate_targets

WEIGHTS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""The co-occurrence term's candidate weights."""
SHIFT_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""The shift term's candidate weights (added to logits of the items in a run's interests)."""
NEIGHBOUR_TERM = "co-occurrence weight"
SHIFT_TERM = "new-interest shift weight"


@dataclass(frozen=True)
class Choice:
    """A term's weight chosen on validation: the weight, the validation metrics at it, and the validation metric
    (TrainConfig.valid_metric under valid_scoring) of every weight tried, so a user sees what the choice rests on."""

    weight: float
    metrics: dict[str, dict[str, float]]
    tried: dict[float, float]


def choose_weight(
    model: InterestModel,
    buffer: str,
    weights: tuple[float, ...],
    inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    label: str,
    progress: bool = False,
) -> Choice:
    """Set the model's weight `buffer` to the one of `weights` with the best validation metric (the earlier on
    ties, so list 0 first)."""
    scorer = TorchScorer(label, model, resolve_device(config.device))
    weight = model.get_buffer(buffer)
    best: tuple[float, float, dict[str, dict[str, float]]] = (-math.inf, 0.0, {})
    tried: dict[float, float] = {}
    for w in weights:
        weight.fill_(w)
        metrics = evaluate_targets(scorer, inter, valid, config.window, (config.scoring,), config.eval_batch_size)
        value = metrics[config.scoring].get(config.valid_metric, 0.0)
        tried[w] = value
        if progress:
            tqdm.write(f"{label} {w:g}: valid {config.valid_metric} {value:.4f}")
        if value > best[0]:
            best = (value, w, metrics)
    _, chosen, metrics = best
    weight.fill_(chosen)
    return Choice(chosen, metrics, tried)


def choose_neighbour_weight(
    model: InterestModel,
    train: Interactions,
    inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    progress: bool = False,
) -> Choice:
    """Set the model's neighbours from `train` and its co-occurrence weight to the best of WEIGHTS on validation."""
    model.set_neighbours(cooccurrence_similarity(train, neighbours=model.config.neighbours))
    return choose_weight(model, "neighbour_weight", WEIGHTS, inter, valid, config, NEIGHBOUR_TERM, progress)


def choose_shift_weight(
    model: InterestModel,
    codes: np.ndarray,
    inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    progress: bool = False,
) -> Choice:
    """Set each item's interest (codes int64[N], -1: none) and the shift weight to the best of SHIFT_WEIGHTS on
    validation."""
    model.set_interests(codes)
    return choose_weight(model, "shift_weight", SHIFT_WEIGHTS, inter, valid, config, SHIFT_TERM, progress)


def choice_lines(result: TrainResult | None, config: TrainConfig) -> list[str]:
    """What training chose, a line per choice with the figures behind it: the settings the training data chose,
    the best epoch, then the weights (averaged or raw) and each history term's weight among those tried (the chosen
    one starred)."""
    if result is None:
        return []
    metric = f"valid {config.valid_metric} ({config.valid_scoring})"
    lines = [f"chosen from the training data: {reason}" for reason in result.settled]
    lines.append(f"chosen on validation ({metric}): epoch {result.best_epoch} of {result.epochs_run} run")
    chosen = {NEIGHBOUR_TERM: result.neighbour_weight, SHIFT_TERM: result.shift_weight, AVERAGE_TERM: result.ema_decay}
    for term, tried in result.tried.items():
        figures = " · ".join(f"{w:g}{'*' if w == chosen.get(term) else ''} {v:.4f}" for w, v in tried.items())
        lines.append(f"  {term} {chosen.get(term) or 0:g} ({figures})")
    return lines
