"""Train a neural model with Ray Train: DDP over `workers` processes, training windows fed by Ray Data.

Each worker runs the local loop's own step (`train_step`) on its shard of every epoch; gradients are averaged
by DDP, so with a per-worker batch of batch_size / workers one step sees the same global batch as the local
engine. Validation is sharded too (each worker scores its share of the targets; metrics are averaged by
target count), so every worker takes the same early-stopping decision. The best weights come back as a Ray
checkpoint and are saved in the usual model folder format by the caller.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from tiderec import config as configs
from tiderec.cluster import RayConfig, cluster_cpus, connect
from tiderec.config import STRICT
from tiderec.data.interactions import Interactions
from tiderec.data.ray_windows import WindowFiles
from tiderec.data.sequences import SequenceArrays, training_windows
from tiderec.data.splits import Targets
from tiderec.errors import ConfigError, DatasetError
from tiderec.models.base import SequenceModel
from tiderec.models.scorer import TorchScorer
from tiderec.train.allocator import reuse_large_blocks
from tiderec.train.auto import settle
from tiderec.train.average import WeightAverage
from tiderec.train.config import TrainConfig
from tiderec.train.inputs import ItemInputs
from tiderec.train.loop import (
    EarlyStopping,
    Judged,
    Objective,
    TrainResult,
    echo_epoch,
    make_optimizer,
    popularity_log_q,
    seed_everything,
    to_tensors,
    train_step,
)
from tiderec.train.registry import build_model, model_config
from tiderec.train.validate import evaluate_targets

WEIGHTS = "model.safetensors"
RESULT = "train_result.json"


@dataclass(frozen=True)
class RayTrainConfig:
    """workers: DDP processes; cpus_per_worker: CPUs (and torch threads) each; use_gpu: one GPU per worker;
    storage: where Ray keeps run state, checkpoints and partitioned windows (shared storage on a real cluster)."""

    __pydantic_config__ = STRICT

    workers: int = 2
    cpus_per_worker: int = 1
    use_gpu: bool = False
    storage: str | None = None
    partitions: int | None = None
    """Build the training windows on the cluster from this many user partitions of the events (leave-one-out
    only) instead of on the driver; None = on the driver."""

    def check(self) -> None:
        if self.workers < 1 or self.cpus_per_worker < 1:
            raise ConfigError(f"workers and cpus_per_worker must be >= 1, got {self.workers}, {self.cpus_per_worker}")


@dataclass(frozen=True)
class WorkerData:
    """What every worker needs besides the windows: the model inputs and the validation targets."""

    name: str
    n_items: int
    model_settings: dict[str, Any]
    inputs: ItemInputs
    valid_inter: Interactions
    valid: Targets
    item_counts: np.ndarray


def fit_ray(
    name: str,
    train: Interactions,
    valid_inter: Interactions,
    valid: Targets,
    inputs: ItemInputs,
    config: TrainConfig,
    model_settings: dict[str, Any] | None = None,
    ray_train: RayTrainConfig | None = None,
    ray_config: RayConfig | None = None,
    windows: WindowFiles | None = None,
) -> tuple[SequenceModel, TrainResult]:
    """Train `name` on a Ray cluster; return the model with its best weights and the training record.

    Windows come from `windows` (Parquet built on the cluster) or are built here from `train`. Parquet windows
    stream to the workers when the cluster has a CPU to spare for the reads; otherwise they are read into the
    object store first (the workers hold every CPU, and reads left waiting for one would stall training)."""
    cfg = ray_train or RayTrainConfig()
    cfg.check()
    settled = settle(config, train)
    config = settled.config
    settings = dict(model_settings or {})
    model_config(name, settings)
    ray = connect(ray_config)
    if windows is None:
        arrays = training_windows(train, config.window)
        count, dataset = len(arrays), ray.data.from_arrow(arrays.to_arrow())
    else:
        count, dataset = windows.windows, ray.data.read_parquet(str(windows.folder))
        if cluster_cpus() < cfg.workers * cfg.cpus_per_worker + 1:
            dataset = dataset.materialize()
    if count < cfg.workers:
        raise DatasetError(f"{count} training windows cannot feed {cfg.workers} workers")
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    data = WorkerData(
        name, train.n_items, settings, inputs, valid_inter, valid, np.bincount(train.item, minlength=train.n_items)
    )
    trainer = TorchTrainer(
        worker_loop,
        train_loop_config={"data": ray.put(data), "train": configs.to_dict(config), "cpus": cfg.cpus_per_worker},
        scaling_config=ScalingConfig(
            num_workers=cfg.workers, use_gpu=cfg.use_gpu, resources_per_worker={"CPU": cfg.cpus_per_worker}
        ),
        torch_config=TorchConfig(backend="nccl" if cfg.use_gpu else "gloo"),
        run_config=RunConfig(name=f"tiderec-{name}-{int(time.time())}", storage_path=cfg.storage),
        datasets={"train": dataset},
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"Ray training of {name} ended without a checkpoint: {result.error}")
    model = build_model(name, train.n_items, config.window, model_config(name, settings), inputs)
    with result.checkpoint.as_directory() as folder:
        model.load_state_dict(load_file(str(Path(folder) / WEIGHTS)))
        model.finish()
        record = json.loads((Path(folder) / RESULT).read_text(encoding="utf-8"))
    record["tried"] = {term: {float(w): v for w, v in tried.items()} for term, tried in record["tried"].items()}
    record["settled"] = list(settled.reasons)
    return model, TrainResult(**record)


def worker_loop(loop_config: dict[str, Any]) -> None:
    """The per-worker training function Ray Train runs (importable from the package, as Ray needs)."""
    import ray
    import ray.train
    import ray.train.torch

    data: WorkerData = ray.get(loop_config["data"])
    config = configs.from_dict(TrainConfig, loop_config["train"])
    torch.set_num_threads(int(loop_config["cpus"]))
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    seed_everything(config.seed)
    core = build_model(
        data.name, data.n_items, config.window, model_config(data.name, data.model_settings), data.inputs
    )
    log_q = popularity_log_q(data.item_counts) if config.loss == "sampled" else None
    objective = ray.train.torch.prepare_model(
        Objective(core, config, log_q),
        parallel_strategy_kwargs={"find_unused_parameters": True},
    )
    device = ray.train.torch.get_device()
    if device.type == "cpu" and config.loss == "ce":
        reuse_large_blocks()
    optimizer, scheduler = make_optimizer(objective, config)
    mine = data.valid.take(np.arange(rank, len(data.valid), world))
    average = WeightAverage(core, config.ema)
    variants = average.variants(core)
    scorers = {decay: TorchScorer(data.name, module, str(device)) for decay, module in variants.items()}
    shard = ray.train.get_dataset_shard("train")
    per_worker = max(1, math.ceil(config.batch_size / world))
    stopping = EarlyStopping(config)
    steps = 0
    for epoch in range(1, config.epochs + 1):
        objective.train()
        started = time.perf_counter()
        losses: list[float] = []
        for batch in shard.iter_batches(
            batch_size=per_worker,
            batch_format="pyarrow",
            drop_last=True,
            local_shuffle_buffer_size=per_worker * 8,
            local_shuffle_seed=config.seed * 1000 + epoch * world + rank,
        ):
            t = to_tensors(SequenceArrays.from_arrow(batch), str(device))
            losses.append(train_step(objective, t, optimizer, scheduler))
            average.update(core)
            steps += 1
            stopping.samples += batch.num_rows * world
            if len(losses) == config.steps_per_epoch:
                break
        stopping.train_seconds += time.perf_counter() - started
        judged: Judged = {}
        for decay, scorer in scorers.items():
            metrics = evaluate_targets(
                scorer, data.valid_inter, mine, config.window, (config.scoring,), config.eval_batch_size
            )
            merged: dict[str, dict[str, float]] = {config.scoring: all_workers_mean(metrics[config.scoring], len(mine))}
            judged[decay] = (merged, variants[decay])
        loss = all_workers_mean({"loss": float(np.mean(losses)) if losses else 0.0}, len(losses))["loss"]
        stop = stopping.record(epoch, loss, judged, steps)
        stop = all_workers_any(stop)
        if rank == 0:
            echo_epoch(f"{data.name} (ray, {world} workers)", epoch, loss, stopping)
        ray.train.report({"epoch": epoch, "loss": loss, config.valid_metric: stopping.history[-1][config.valid_metric]})
        if stop:
            break
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            save_file(stopping.best_state, str(Path(folder) / WEIGHTS))
            (Path(folder) / RESULT).write_text(json.dumps(asdict(stopping.result())), encoding="utf-8")
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report({"best_epoch": stopping.best_epoch}, checkpoint=checkpoint)


def all_workers_mean(values: dict[str, float], weight: int) -> dict[str, float]:
    """Weighted mean of each value over the DDP workers (weights: targets or batches per worker); 'targets'
    is summed; coverage, which does not add up across shards, is left out."""
    if not torch.distributed.is_initialized():
        return values
    keys = sorted(k for k in values if not k.startswith("coverage") and k != "targets")
    sums = torch.tensor([values[k] * weight for k in keys] + [float(weight)], dtype=torch.float64)
    torch.distributed.all_reduce(sums)
    total = float(sums[-1])
    out = {k: float(sums[i]) / max(total, 1.0) for i, k in enumerate(keys)}
    if "targets" in values:
        out["targets"] = total
    return out


def all_workers_any(flag: bool) -> bool:
    """True on every worker when any worker says True (so all stop at the same epoch)."""
    if not torch.distributed.is_initialized():
        return flag
    value = torch.tensor([int(flag)])
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
    return bool(value.item())
