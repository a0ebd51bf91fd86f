"""After training: fill the interest model's co-occurrence term from the training sequences and choose its
weight on validation (the term is off while training, so the targets' own co-occurrences never teach it)."""

from __future__ import annotations

import math

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


def choose_neighbour_weight(
    model: InterestModel,
    train: Interactions,
    inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    progress: bool = False,
) -> tuple[float, dict[str, dict[str, float]]]:
    """Set the model's neighbours from `train` and its term's weight to the one of WEIGHTS with the best
    validation metric (the smaller on ties); returns that weight and its validation metrics."""
    model.set_neighbours(cooccurrence_similarity(train, neighbours=model.config.neighbours))
    scorer = TorchScorer("neighbour weight", model, resolve_device(config.device))
    weight = model.get_buffer("neighbour_weight")
    best: tuple[float, float, dict[str, dict[str, float]]] = (-math.inf, 0.0, {})
    for w in WEIGHTS:
        weight.fill_(w)
        metrics = evaluate_targets(
            scorer, inter, valid, config.max_len, (config.valid_scoring,), config.eval_batch_size
        )
        value = metrics[config.valid_scoring].get(config.valid_metric, 0.0)
        if progress:
            tqdm.write(f"co-occurrence weight {w:g}: valid {config.valid_metric} {value:.4f}")
        if value > best[0]:
            best = (value, w, metrics)
    _, chosen, metrics = best
    weight.fill_(chosen)
    return chosen, metrics
