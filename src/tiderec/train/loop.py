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
from tiderec.data.sequences import IGNORE, SequenceArrays, prefix_windows, training_windows
from tiderec.data.splits import Targets
from tiderec.errors import DatasetError
from tiderec.models.base import SequenceModel
from tiderec.models.layers import prefix_histories
from tiderec.models.scorer import TorchScorer
from tiderec.train.allocator import reuse_large_blocks
from tiderec.train.auto import settle
from tiderec.train.average import WeightAverage
from tiderec.train.config import TrainConfig
from tiderec.train.validate import evaluate_targets


@dataclass
class TrainResult:
    """What training did: the best epoch and its validation metrics, and per-epoch history and timings
    (samples_per_second: training sequences per second of optimisation, validation excluded;
    neighbour_weight, shift_weight: the co-occurrence and new-interest shift terms' weights chosen on validation,
    when the model has them; ema_decay: the weights chosen on validation, the average's decay or 0.0 for the raw
    weights (None: no average kept); tried: per choice, the validation metric of every value tried; settled: what
    the training data chose of the `auto` settings, a line each)."""

    best_epoch: int
    best_valid: dict[str, dict[str, float]]
    epochs_run: int
    seconds_per_epoch: float
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "patience"
    samples_per_second: float = 0.0
    neighbour_weight: float | None = None
    shift_weight: float | None = None
    ema_decay: float | None = None
    tried: dict[str, dict[float, float]] = field(default_factory=dict)
    settled: list[str] = field(default_factory=list)


def seed_everything(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


CUT_AT = 2.0
"""With batches of similar length, a batch holding more than this many times the epoch's mean supervised positions per
batch is cut into equal parts (Amazon Beauty: a batch of its longest windows holds 8.5x the mean)."""


def batches(
    arrays: SequenceArrays, batch_size: int, rng: np.random.Generator, bucket: bool, max_positions: float = math.inf
) -> list[np.ndarray]:
    """Shuffled batches; with `bucket`, of similar sequence length (sorted inside chunks of 50 batches), and a
    batch holding more than `max_positions` supervised positions cut into equal parts, so that a batch of the
    longest windows does not hold many times the full-softmax logits of an average one."""
    order = rng.permutation(len(arrays))
    if not bucket:
        return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    lengths = (arrays.items > 0).sum(axis=1)
    positions = (arrays.targets != IGNORE).sum(axis=1)
    chunk = batch_size * 50
    out: list[np.ndarray] = []
    for start in range(0, order.size, chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        for i in range(0, part.size, batch_size):
            rows = part[i : i + batch_size]
            out += np.array_split(rows, max(1, math.ceil(int(positions[rows].sum()) / max_positions)))
    rng.shuffle(out)
    return out


def to_tensors(arrays: SequenceArrays, device: str) -> dict[str, torch.Tensor]:
    """Tensors of a batch, trimmed to its longest sequence (left padding: drop leading empty columns)."""
    trimmed = arrays.trimmed()
    return {
        name: torch.from_numpy(getattr(trimmed, name)).to(device)
        for name in ("items", "event_types", "gaps", "next_gaps", "targets")
    }


def make_optimizer(
    model: torch.nn.Module, config: TrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with a linear learning-rate warm-up over `warmup_steps`."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(config.warmup_steps, 1))
    )
    return optimizer, scheduler


class Objective(torch.nn.Module):
    """The training loss as a module: forward(batch) -> scalar loss. Everything the loss touches runs inside
    forward, so a data-parallel wrapper (DDP) sees every parameter use."""

    def __init__(
        self,
        model: SequenceModel,
        config: TrainConfig,
        log_q: torch.Tensor | None = None,
        positions_per_batch: float | None = None,
    ) -> None:
        """positions_per_batch: the mean number of supervised positions in a batch of the epoch. Given, each
        batch's loss is its sum over positions divided by that mean instead of its own mean, so that every
        position weighs the same whatever batch it lands in (batches of similar length hold from a few hundred
        positions to tens of thousands, and a per-batch mean would give each position of a short batch tens of
        times the weight of one in a long batch)."""
        super().__init__()
        self.model = model
        self.log_q = log_q
        self.positions_per_batch = positions_per_batch
        self.negatives = config.negatives
        self.exclude_seen = config.exclude_seen
        self.contrastive = config.contrastive
        self.temperature = config.contrastive_temperature

    def forward(self, t: dict[str, torch.Tensor]) -> torch.Tensor:
        states = self.model(t["items"], t["event_types"], t["gaps"], t["next_gaps"])  # [B, T, D]
        select = t["targets"] != IGNORE
        target = t["targets"][select]
        if self.log_q is None:
            logits = self.model.scores(states, t["items"], select)  # [P, N]
            if self.exclude_seen:
                logits = logits.index_put_(seen_pairs(t["items"], select, target), logits.new_tensor(-torch.inf))
            loss = F.cross_entropy(logits, target)
        else:
            loss = _sampled_loss(self.model, states[select], target, self.log_q, self.negatives, str(states.device))
        if self.positions_per_batch is not None:
            loss = loss * (target.numel() / self.positions_per_batch)
        if self.contrastive > 0:
            loss = loss + self.contrastive * self._contrastive(states, t)
        return loss

    def _contrastive(self, states: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """DuoRec's contrastive regulariser over each window's last state: a second pass (other dropout masks)
        is the positive view, as is every window of the batch with the same last target; the rest of the batch
        are negatives. Dot products / temperature, both directions."""
        other = self.model(t["items"], t["event_types"], t["gaps"], t["next_gaps"])  # [B, T, D]
        targets = t["targets"][:, -1]  # [B]: windows are left-padded, so the last column is each window's last
        keep = targets != IGNORE
        z1, z2, last = states[:, -1][keep], other[:, -1][keep], targets[keep]  # [B', D], [B', D], [B']
        positive = (last[:, None] == last[None, :]).float()  # [B', B']: the diagonal included
        positive = positive / positive.sum(dim=1, keepdim=True)
        logits = z1 @ z2.T / self.temperature  # [B', B']
        forward = -(positive * F.log_softmax(logits, dim=1)).sum(dim=1)
        backward = -(positive * F.log_softmax(logits.T, dim=1)).sum(dim=1)
        return (forward + backward).mean() / 2


def seen_pairs(items: torch.Tensor, select: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(position, item id) pairs, each int[K]: the items in each selected position's prefix, its own target
    excepted (a pair may repeat). items: int[B, T] ids + 1 (0 = pad); select: bool[B, T] with P true;
    target: int[P] item ids. Sparse, so that masking costs K writes, not a second [P, N] tensor."""
    history, _, in_prefix = prefix_histories(items, select)
    position, column = (in_prefix & (history != target[:, None] + 1)).nonzero(as_tuple=True)
    return position, history[position, column] - 1


def train_step(
    objective: torch.nn.Module,
    t: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> float:
    """One optimisation step on a batch; `objective` is an `Objective` or a data-parallel wrapper of one."""
    loss = objective(t)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return float(loss.item())


AVERAGE_TERM = "weights (EMA decay, 0: raw)"
"""The name under which TrainResult.tried keeps the best validation metric of the averaged and the raw weights."""

Judged = dict[float, tuple[dict[str, dict[str, float]], SequenceModel]]
"""Per weights variant (the average's decay, 0.0 for the raw weights): its validation metrics and the module
holding those weights."""


@dataclass
class EarlyStopping:
    """Keeps the best validation epoch and its weights (of the averaged and the raw weights, whichever validates
    best); says when patience or the time limit runs out."""

    config: TrainConfig
    started: float = field(default_factory=time.perf_counter)
    best_metric: float = -math.inf
    best_epoch: int = 0
    best_weights: float = 0.0
    best_by_weights: dict[float, float] = field(default_factory=dict)
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    best_valid: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    samples: int = 0
    warm_epoch: int = 0
    stopped: str = "epochs"

    def record(self, epoch: int, loss: float, judged: Judged, steps: int) -> bool:
        """Log one epoch (keeping the weights when a variant of them is the best so far); True when training should
        stop."""
        cfg = self.config
        values = {decay: metrics[cfg.scoring].get(cfg.valid_metric, 0.0) for decay, (metrics, _) in judged.items()}
        leader = max(values, key=lambda decay: values[decay])
        entry: dict[str, Any] = {
            "epoch": epoch,
            "steps": steps,
            "loss": round(loss, 5),
            cfg.valid_metric: values[leader],
        }
        if len(values) > 1:
            entry["by_weights"] = {f"{decay:g}": round(v, 6) for decay, v in values.items()}
        self.history.append(entry)
        for decay, value in values.items():
            self.best_by_weights[decay] = max(self.best_by_weights.get(decay, -math.inf), value)
        if values[leader] > self.best_metric:
            metrics, module = judged[leader]
            self.best_metric, self.best_epoch, self.best_valid = values[leader], epoch, metrics
            self.best_weights = leader
            self.best_state = copy_state(module)
        if not self.warm_epoch and steps >= cfg.warmup_steps:
            self.warm_epoch = epoch
        if self.warm_epoch and epoch - max(self.best_epoch, self.warm_epoch) >= cfg.patience:
            self.stopped = "patience"
            return True
        left = self.budget_left()
        if left is not None and left < self.epoch_seconds():
            self.stopped = "time limit"
            return True
        return False

    def epoch_seconds(self) -> float:
        """Wall seconds per epoch so far (training and validation): what the next epoch is expected to take."""
        return (time.perf_counter() - self.started) / max(len(self.history), 1)

    def out_of_time(self) -> bool:
        """The budget is spent: the epoch ends after its current step and is validated, and training stops (an
        epoch over a large log, e.g. the prefix windows of a non-causal model, would otherwise run far past it)."""
        left = self.budget_left()
        return left is not None and left <= 0

    def budget_left(self) -> float | None:
        """Seconds left of `max_minutes` (None: no limit). Training stops before an epoch that would not fit."""
        if self.config.max_minutes is None:
            return None
        return self.config.max_minutes * 60 - (time.perf_counter() - self.started)

    def result(self) -> TrainResult:
        epochs = len(self.history)
        per_epoch = round(self.train_seconds / max(epochs, 1), 2)
        rate = round(self.samples / self.train_seconds, 1) if self.train_seconds else 0.0
        out = TrainResult(self.best_epoch, self.best_valid, epochs, per_epoch, self.history, self.stopped, rate)
        if len(self.best_by_weights) > 1:
            out.ema_decay = self.best_weights
            out.tried[AVERAGE_TERM] = dict(self.best_by_weights)
        return out


def fit(
    model: SequenceModel,
    train: Interactions,
    valid_inter: Interactions,
    valid: Targets,
    config: TrainConfig,
    name: str = "model",
    progress: bool = True,
) -> TrainResult:
    """Train `model` on `train` windows (`auto` settings resolved from them first); validate on `valid` each epoch;
    load the best weights at the end."""
    settled = settle(config, train)
    config = settled.config
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    if device == "cpu" and config.loss == "ce":
        reuse_large_blocks()
    rng = seed_everything(config.seed)
    windows = training_windows(train, config.window) if model.causal else prefix_windows(train, config.window)
    if len(windows) == 0:
        raise DatasetError("nothing to train on: no user has two or more training events")
    model.to(device)
    optimizer, scheduler = make_optimizer(model, config)
    log_q = popularity_log_q(np.bincount(train.item, minlength=train.n_items)) if config.loss == "sampled" else None
    positions = float((windows.targets != IGNORE).sum()) / math.ceil(len(windows) / config.batch_size)
    objective = Objective(model, config, log_q, positions if config.bucket_by_length else None)
    average = WeightAverage(model, config.ema)
    variants = average.variants(model)
    scorers = {decay: TorchScorer(name, module, device) for decay, module in variants.items()}
    stopping = EarlyStopping(config)
    steps = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        losses = []
        plan = batches(windows, config.batch_size, rng, config.bucket_by_length, CUT_AT * positions)
        plan = plan[: config.steps_per_epoch]
        bar = tqdm(plan, desc=f"{name} epoch {epoch}", unit="batch", disable=None if progress else True, leave=False)
        for rows in bar:
            t = to_tensors(windows.take(rows), device)
            losses.append(train_step(objective, t, optimizer, scheduler))
            average.update(model)
            steps += 1
            stopping.samples += len(rows)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            if stopping.out_of_time():
                break
        bar.close()
        stopping.train_seconds += time.perf_counter() - epoch_start
        judged: Judged = {
            decay: (
                evaluate_targets(scorer, valid_inter, valid, config.window, (config.scoring,), config.eval_batch_size),
                variants[decay],
            )
            for decay, scorer in scorers.items()
        }
        stop = stopping.record(epoch, float(np.mean(losses)), judged, steps)
        if progress:
            echo_epoch(name, epoch, float(np.mean(losses)), stopping)
        if stop:
            break
    model.load_state_dict(stopping.best_state)
    model.finish()
    result = stopping.result()
    result.settled = list(settled.reasons)
    return result


def echo_epoch(name: str, epoch: int, loss: float, stopping: EarlyStopping) -> None:
    metric = stopping.config.valid_metric
    value = stopping.history[-1][metric]
    mark = " *" if stopping.best_epoch == epoch else ""
    left = stopping.budget_left()
    budget = (
        "" if left is None else f" ({stopping.epoch_seconds():.0f} s/epoch, budget {max(left, 0) / 60:.1f} min left)"
    )
    tqdm.write(f"{name} epoch {epoch}: loss {loss:.4f}, valid {metric} {value:.4f}{mark}{budget}")


def copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def popularity_log_q(item_counts: np.ndarray) -> torch.Tensor:
    """log q(item) of the sampled softmax from training counts int[N]: popularity^0.75, normalised."""
    counts = item_counts.astype(np.float64) ** 0.75 + 1e-3
    return torch.from_numpy(np.log(counts / counts.sum())).float()


def _sampled_loss(
    model: SequenceModel, states: torch.Tensor, target: torch.Tensor, log_q: torch.Tensor, k: int, device: str
) -> torch.Tensor:
    """Softmax over the true items plus k shared negatives drawn ~ q, logits corrected by -log q."""
    negatives = torch.multinomial(log_q.exp(), k, replacement=True).to(device)
    candidates = torch.cat([target, negatives])  # [P + k]
    table = model.item_rows(candidates)  # [P + k, D]
    logits = states @ table.T - log_q.to(device)[candidates][None, :]  # [P, P + k]
    same = candidates[None, :] == target[:, None]
    positives = torch.arange(target.shape[0], device=device)
    logits = logits.masked_fill(
        same & (torch.arange(candidates.shape[0], device=device)[None, :] != positives[:, None]), -1e9
    )
    return F.cross_entropy(logits, positives)
