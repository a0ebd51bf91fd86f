"""A small training loop for sequence models: AdamW with warm-up, full-softmax (or sampled, log-q corrected)
cross-entropy at every position, early stopping on a validation metric, best weights kept."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from tiderec.config import resolve_device
from tiderec.data.interactions import Interactions
from tiderec.data.sequences import IGNORE, SequenceArrays, training_windows
from tiderec.data.splits import Targets
from tiderec.errors import DatasetError
from tiderec.models.base import SequenceModel
from tiderec.models.scorer import TorchScorer
from tiderec.train.config import TrainConfig
from tiderec.train.validate import evaluate_targets


@dataclass
class TrainResult:
    """What training did: the best epoch and its validation metrics, and per-epoch history and timings."""

    best_epoch: int
    best_valid: dict[str, dict[str, float]]
    epochs_run: int
    seconds_per_epoch: float
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "patience"


def seed_everything(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def batches(arrays: SequenceArrays, batch_size: int, rng: np.random.Generator, bucket: bool) -> list[np.ndarray]:
    """Shuffled batches; with `bucket`, of similar sequence length (sorted inside chunks of 50 batches)."""
    order = rng.permutation(len(arrays))
    if not bucket:
        return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    lengths = (arrays.items > 0).sum(axis=1)
    chunk = batch_size * 50
    out: list[np.ndarray] = []
    for start in range(0, order.size, chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        out += [part[i : i + batch_size] for i in range(0, part.size, batch_size)]
    rng.shuffle(out)
    return out


def to_tensors(arrays: SequenceArrays, device: str) -> dict[str, torch.Tensor]:
    """Tensors of a batch, trimmed to its longest sequence (left padding: drop leading empty columns)."""
    width = int((arrays.items > 0).sum(axis=1).max())
    return {
        name: torch.from_numpy(np.ascontiguousarray(getattr(arrays, name)[:, -width:])).to(device)
        for name in ("items", "event_types", "gaps", "next_gaps", "targets")
    }


def fit(
    model: SequenceModel,
    train: Interactions,
    valid_inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    name: str = "model",
    progress: bool = True,
) -> TrainResult:
    """Train `model` on `train` windows; validate on `valid` each epoch; load the best weights at the end."""
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    rng = seed_everything(config.seed)
    windows = training_windows(train, config.max_len)
    if len(windows) == 0:
        raise DatasetError("nothing to train on: no user has two or more training events")
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(config.warmup_steps, 1))
    )
    log_q = _log_q(train, config) if config.loss == "sampled" else None
    scorer = TorchScorer(name, model, device)
    best_metric, best_epoch, best_state = -math.inf, 0, _copy_state(model)
    best_valid: dict[str, dict[str, float]] = {}
    history: list[dict[str, Any]] = []
    started = time.perf_counter()
    train_seconds = 0.0
    stopped = "epochs"
    steps, warm_epoch = 0, 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        losses = []
        plan = batches(windows, config.batch_size, rng, config.bucket_by_length)
        bar = tqdm(plan, desc=f"{name} epoch {epoch}", unit="batch", disable=None if progress else True, leave=False)
        for rows in bar:
            t = to_tensors(windows.take(rows), device)
            states = model(t["items"], t["event_types"], t["gaps"], t["next_gaps"])  # [B, T, D]
            select = t["targets"] != IGNORE
            target = t["targets"][select]
            if log_q is None:
                logits = model.scores(states, t["items"], select)  # [P, N]
                loss = F.cross_entropy(logits, target)
            else:
                loss = _sampled_loss(model, states[select], target, log_q, config.negatives, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            steps += 1
            losses.append(float(loss.item()))
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        bar.close()
        train_seconds += time.perf_counter() - epoch_start
        metrics = evaluate_targets(
            scorer, valid_inter, valid, config.max_len, (config.valid_scoring,), config.eval_batch_size
        )
        value = metrics[config.valid_scoring].get(config.valid_metric, 0.0)
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 5), config.valid_metric: value})
        improved = value > best_metric
        if improved:
            best_metric, best_epoch, best_state, best_valid = value, epoch, _copy_state(model), metrics
        if progress:
            mark = " *" if improved else ""
            tqdm.write(
                f"{name} epoch {epoch}: loss {np.mean(losses):.4f}, valid {config.valid_metric} {value:.4f}{mark}"
            )
        if not warm_epoch and steps >= config.warmup_steps:
            warm_epoch = epoch
        if warm_epoch and epoch - max(best_epoch, warm_epoch) >= config.patience:
            stopped = "patience"
            break
        if config.max_minutes is not None and (time.perf_counter() - started) / 60 > config.max_minutes:
            stopped = "time limit"
            break
    model.load_state_dict(best_state)
    epochs_run = len(history)
    return TrainResult(
        best_epoch, best_valid, epochs_run, round(train_seconds / max(epochs_run, 1), 2), history, stopped
    )


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _log_q(train: Interactions, config: TrainConfig) -> torch.Tensor:
    counts = np.bincount(train.item, minlength=train.n_items).astype(np.float64) ** 0.75 + 1e-3
    return torch.from_numpy(np.log(counts / counts.sum())).float()


def _sampled_loss(
    model: SequenceModel, states: torch.Tensor, target: torch.Tensor, log_q: torch.Tensor, k: int, device: str
) -> torch.Tensor:
    """Softmax over the true items plus k shared negatives drawn ~ q, logits corrected by -log q."""
    negatives = torch.multinomial(log_q.exp(), k, replacement=True).to(device)
    candidates = torch.cat([target, negatives])  # [P + k]
    table = model.item_table()[candidates]  # [P + k, D]
    logits = states @ table.T - log_q.to(device)[candidates][None, :]  # [P, P + k]
    same = candidates[None, :] == target[:, None]
    positives = torch.arange(target.shape[0], device=device)
    logits = logits.masked_fill(
        same & (torch.arange(candidates.shape[0], device=device)[None, :] != positives[:, None]), -1e9
    )
    return F.cross_entropy(logits, positives)
