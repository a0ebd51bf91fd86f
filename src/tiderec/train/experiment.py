"""From a cleaned folder to trained scorers: load, split, align item inputs, train or fit a named model."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tiderec.clean.pipeline import CleanResult
from tiderec.clean.store import read_cleaned
from tiderec.cluster import RayConfig
from tiderec.config import resolve_device, to_dict
from tiderec.data.interactions import Interactions
from tiderec.data.ray_windows import WindowFiles, build_windows_ray
from tiderec.data.space import interest_space
from tiderec.data.splits import Split, TemporalConfig, leave_one_out, temporal_split
from tiderec.errors import ConfigError, DatasetError
from tiderec.models.base import SequenceModel
from tiderec.models.interest import InterestModel
from tiderec.models.scorer import Scorer, TorchScorer
from tiderec.text.store import read_vectors
from tiderec.train.auto import settle
from tiderec.train.checkpoint import save_model
from tiderec.train.config import TrainConfig
from tiderec.train.inputs import ItemInputs, item_inputs
from tiderec.train.loop import TrainResult, fit
from tiderec.train.ray_train import RayTrainConfig, fit_ray
from tiderec.train.registry import CLASSIC, NEURAL_CLASSES, build_model, check_name, model_config
from tiderec.train.terms import NEIGHBOUR_TERM, SHIFT_TERM, choose_neighbour_weight, choose_shift_weight
from tiderec.types import EVENT_TYPES

Protocol = Literal["loo", "temporal"]


@dataclass(frozen=True)
class Prepared:
    """Everything a model needs from one dataset: cleaned data, interactions, the split, item inputs."""

    cleaned: CleanResult
    inter: Interactions
    split: Split
    inputs: ItemInputs
    source: str


def prepare(
    folder: Path,
    vectors: Path | None = None,
    protocol: Protocol = "loo",
    temporal: TemporalConfig | None = None,
) -> Prepared:
    """Load a cleaned folder (and a vector store, if given or found beside it as ../vectors) and split it."""
    cleaned = read_cleaned(folder)
    inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
    if len(inter) == 0:
        raise DatasetError(f"{folder}: no interactions to train on")
    split = leave_one_out(inter) if protocol == "loo" else temporal_split(inter, temporal)
    store_dir = vectors if vectors is not None else folder.parent / "vectors"
    if vectors is not None and not (store_dir / "manifest.json").is_file():
        raise DatasetError(f"{store_dir}: no vector store (run `tiderec encode` first)")
    store = read_vectors(store_dir) if (store_dir / "manifest.json").is_file() else None
    inputs = item_inputs(cleaned.item_vocab, cleaned.items, store)
    return Prepared(cleaned, inter, split, inputs, cleaned.events.meta.get("source", str(folder)))


@dataclass
class Trained:
    """A ready scorer, with the neural model and its training record when there is one; train_config is the
    training settings as used, nothing left on `auto`."""

    name: str
    model_name: str
    scorer: Scorer
    model: SequenceModel | None
    result: TrainResult | None
    model_config: dict[str, Any]
    train_config: TrainConfig
    seconds: float


def train_model(
    prepared: Prepared,
    name: str,
    train_config: TrainConfig,
    settings: dict[str, Any] | None = None,
    label: str | None = None,
    progress: bool = True,
    ray: RayTrainConfig | None = None,
    ray_config: RayConfig | None = None,
) -> Trained:
    """Fit a classic baseline, or build and train a neural model with early stopping on validation (in this
    process, or with `ray` on a Ray cluster)."""
    check_name(name)
    start = time.perf_counter()
    split = prepared.split
    settled = settle(train_config, split.train)
    train_config = settled.config
    if name in CLASSIC:
        scorer = CLASSIC[name](split.train)
        return Trained(label or name, name, scorer, None, None, {}, train_config, time.perf_counter() - start)
    cfg = model_config(name, settings)
    if ray is not None and not NEURAL_CLASSES[name].causal:
        raise ConfigError(f"{name} trains on every prefix of a history (it is not causal): drop --engine ray")
    if ray is not None and getattr(cfg, "text_tuning", "frozen") != "frozen":
        raise ConfigError("text_tuning='lora' trains in one process; drop --engine ray (or use text_tuning='frozen')")
    if ray is not None:
        inputs = (split.train, prepared.inter, split.valid, prepared.inputs, train_config)
        if ray.storage is not None:
            Path(ray.storage).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="tiderec-windows-", dir=ray.storage) as scratch:
            windows = None
            if ray.partitions is not None:
                if split.protocol != "leave-one-out":
                    raise ConfigError("windows built from user partitions need the leave-one-out protocol")
                events = prepared.cleaned.events
                vocab = prepared.cleaned.item_vocab
                windows = build_windows_ray(
                    events, vocab, train_config.window, Path(scratch), ray.partitions, ray_config
                )
            model, result = fit_ray(name, *inputs, settings, ray, ray_config, windows)
    else:
        model = build_model(name, prepared.inter.n_items, train_config.window, cfg, prepared.inputs)
        result = fit(model, split.train, prepared.inter, split.valid, train_config, label or name, progress)
    if isinstance(model, InterestModel) and model.config.neighbours and result is not None:
        choice = choose_neighbour_weight(model, split.train, prepared.inter, split.valid, train_config, progress)
        result.neighbour_weight, result.best_valid = choice.weight, choice.metrics
        result.tried[NEIGHBOUR_TERM] = choice.tried
    if isinstance(model, InterestModel) and model.config.shift and result is not None:
        codes = interest_codes(prepared)
        if codes is not None:
            choice = choose_shift_weight(model, codes, prepared.inter, split.valid, train_config, progress)
            result.shift_weight, result.best_valid = choice.weight, choice.metrics
            result.tried[SHIFT_TERM] = choice.tried
    if result is not None:
        result.settled = list(settled.reasons)
    device = resolve_device(train_config.device)
    scorer = TorchScorer(label or name, model, device)
    seconds = time.perf_counter() - start
    return Trained(label or name, name, scorer, model, result, to_dict(cfg), train_config, seconds)


def interest_codes(prepared: Prepared) -> np.ndarray | None:
    """int64[N]: each item's interest (data.space.interest_space: categories, text clusters or attribute clusters;
    -1: none), or None when the catalogue gives no interest space."""
    try:
        return interest_space(prepared.cleaned.items, prepared.inputs.vectors).codes
    except DatasetError:
        return None


def cluster_windows(
    prepared: Prepared, ray: RayTrainConfig, max_len: int, scratch: Path, ray_config: RayConfig | None
) -> WindowFiles | None:
    """Training windows built on the cluster from user partitions when `ray.partitions` asks for it."""
    if ray.partitions is None:
        return None
    if prepared.split.protocol != "leave-one-out":
        raise ConfigError("windows built from user partitions need the leave-one-out protocol")
    cleaned = prepared.cleaned
    return build_windows_ray(cleaned.events, cleaned.item_vocab, max_len, scratch, ray.partitions, ray_config)


def save_trained(out: Path, prepared: Prepared, trained: Trained, metrics: dict[str, Any]) -> None:
    """Write a trained neural model's folder (weights, the settings as used, vocabulary, metrics, dataset, and what
    training chose on validation and from the data)."""
    if trained.model is None or trained.result is None:
        raise DatasetError(f"{trained.name} is a classic baseline: nothing to save")
    train_config = trained.train_config
    save_model(
        out,
        trained.model_name,
        trained.model,
        prepared.cleaned.item_vocab,
        {
            "model_config": trained.model_config,
            "train_config": to_dict(train_config),
            "max_len": train_config.window,
            "n_items": prepared.inter.n_items,
            "dataset": prepared.source,
            "protocol": prepared.split.protocol,
            "text_space": prepared.inputs.text_space,
            "best_epoch": trained.result.best_epoch,
            "epochs_run": trained.result.epochs_run,
            "chosen_on_validation": {
                "neighbour_weight": trained.result.neighbour_weight,
                "shift_weight": trained.result.shift_weight,
                "ema_decay": trained.result.ema_decay,
                "metric": f"{train_config.valid_metric} under ({train_config.valid_scoring})",
                "tried": {
                    term: {f"{w:g}": round(v, 6) for w, v in tried.items()}
                    for term, tried in trained.result.tried.items()
                },
            },
            "chosen_from_data": trained.result.settled,
            "seconds_per_epoch": trained.result.seconds_per_epoch,
            "default_event_type": EVENT_TYPES[int(np.bincount(prepared.split.train.event_type).argmax())],
            "metrics": metrics,
        },
        np.bincount(prepared.split.train.item, minlength=prepared.inter.n_items).astype(np.float32),
    )
