"""After training: fill the interest model's history terms and choose their weights on validation. The terms are
off while training, so the targets' own co-occurrences never teach them: the co-occurrence term (ItemKNN
similarity over the training sequences) and the new-interest shift term (each item's interest)."""

from __future__ import annotations

import math

import numpy as np
from tqdm import tqdm

from tiderec.config import resolve_device
from tiderec.data.interactions import Interactions
from tiderec.data.splits import Targets
from tiderec.models.interest import InterestModel
from tiderec.models.itemknn import cooccurrence_similarity
from tiderec.models.scorer import TorchScorer
from tiderec.train.config import TrainConfig
from tiderec.train.validate import evaluate_targets

WEIGHTS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""The co-occurrence term's candidate weights."""
SHIFT_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""The shift term's candidate weights (added to logits of the items in a run's interests)."""


def choose_weight(
    model: InterestModel,
    buffer: str,
    weights: tuple[float, ...],
    inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    label: str,
    progress: bool = False,
) -> tuple[float, dict[str, dict[str, float]]]:
    """Set the model's weight `buffer` to the one of `weights` with the best validation metric (the earlier on
    ties, so list 0 first); returns that weight and its validation metrics."""
    scorer = TorchScorer(label, model, resolve_device(config.device))
    weight = model.get_buffer(buffer)
    best: tuple[float, float, dict[str, dict[str, float]]] = (-math.inf, 0.0, {})
    for w in weights:
        weight.fill_(w)
        metrics = evaluate_targets(
            scorer, inter, valid, config.max_len, (config.valid_scoring,), config.eval_batch_size
        )
        value = metrics[config.valid_scoring].get(config.valid_metric, 0.0)
        if progress:
            tqdm.write(f"{label} {w:g}: valid {config.valid_metric} {value:.4f}")
        if value > best[0]:
            best = (value, w, metrics)
    _, chosen, metrics = best
    weight.fill_(chosen)
    return chosen, metrics


def choose_neighbour_weight(
    model: InterestModel,
    train: Interactions,
    inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    progress: bool = False,
) -> tuple[float, dict[str, dict[str, float]]]:
    """Set the model's neighbours from `train` and its co-occurrence weight to the best of WEIGHTS on validation."""
    model.set_neighbours(cooccurrence_similarity(train, neighbours=model.config.neighbours))
    return choose_weight(model, "neighbour_weight", WEIGHTS, inter, valid, config, "co-occurrence weight", progress)


def choose_shift_weight(
    model: InterestModel,
    codes: np.ndarray,
    inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    progress: bool = False,
) -> tuple[float, dict[str, dict[str, float]]]:
    """Set each item's interest (codes int64[N], -1: none) and the shift weight to the best of SHIFT_WEIGHTS on
    validation."""
    model.set_interests(codes)
    return choose_weight(model, "shift_weight", SHIFT_WEIGHTS, inter, valid, config, "new-interest shift", progress)
