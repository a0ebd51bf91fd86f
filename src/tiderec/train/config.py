"""Training settings (one frozen config; the model's own settings live with the model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tiderec.config import STRICT
from tiderec.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Full-softmax cross-entropy by default ('sampled': softmax over the targets plus `negatives` items drawn
    by popularity^0.75, with log-q correction). Early stopping on the validation metric under one scoring;
    patience counts epochs only once the learning-rate warm-up is over (small datasets take few steps per
    epoch, and a model cannot be judged at a tenth of its learning rate)."""

    __pydantic_config__ = STRICT

    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    patience: int = 10
    max_len: int = 50
    """Events a state reads (the window). 0: chosen from the training sequences' lengths (train/auto.py); not the
    default, since a longer window means fewer, longer training windows and so fewer steps per epoch (measured in
    docs/models.md)."""
    seed: int = 2024
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = None
    loss: Literal["ce", "sampled"] = "ce"
    negatives: int = 2048
    valid_metric: str = "ndcg@10"
    valid_scoring: Literal["A", "B", "auto"] = "auto"
    """The scoring validation judges epochs and term weights by, and so what the trained model serves: (A) seen items
    kept, (B) seen items removed. auto: chosen from the training events (train/auto.py): (B) where shoppers
    hardly ever return to an item (reviews), else (A)."""
    eval_batch_size: int = 512
    max_minutes: float | None = None
    bucket_by_length: bool = True
    """Batches of windows of similar length (sorted inside chunks of 50 batches, the batches then shuffled), each
    position weighted as in a random batch (loop.Objective). Far less padding, so shorter epochs: random batches of
    Amazon Beauty's windows are 88% padding. False: random batches."""
    exclude_seen: bool = False
    """Leave the items already in a prefix out of its softmax (the target excepted): training's counterpart
    of scoring (B), for catalogues where a recommender never shows what the user already has."""
    ema: float = 0.995
    """Decay per step of an exponential moving average of the weights. Every epoch validates both the averaged
    and the raw weights, and training keeps whichever validates best (the averaged ones usually, by a little;
    what was chosen is reported). 0: the raw weights only."""
    contrastive: float = 0.0
    """Weight of DuoRec's contrastive regulariser (loop.Objective: two dropout views of each window's last state,
    windows with the same target as further positives, the batch as negatives); 0: off. It costs a second forward
    pass per step."""
    contrastive_temperature: float = 1.0
    steps_per_epoch: int | None = None
    """At most this many optimisation steps per epoch (None: a full pass), so that large datasets validate
    (and can stop early) more often than once per pass."""

    @property
    def window(self) -> int:
        """max_len once the config is settled on the training data (train/auto.py)."""
        if self.max_len == 0:
            raise ConfigError(
                "train: max_len is still 0 (chosen from the data); settle the config on the training data first"
            )
        return self.max_len

    @property
    def scoring(self) -> Literal["A", "B"]:
        """valid_scoring once the config is settled on the training data (train/auto.py)."""
        if self.valid_scoring == "auto":
            raise ConfigError("train: valid_scoring is still 'auto'; settle the config on the training data first")
        return self.valid_scoring

    def __post_init__(self) -> None:
        if self.exclude_seen and self.loss != "ce":
            raise ConfigError("train: exclude_seen needs loss='ce' (the sampled softmax does not see prefixes)")
        if self.max_len < 0:
            raise ConfigError(f"train: max_len must be at least 1 (0: chosen from the data), got {self.max_len}")
        if self.contrastive < 0 or self.contrastive_temperature <= 0:
            raise ConfigError(
                "train: contrastive must be >= 0 (0: off) and contrastive_temperature > 0, got "
                f"{self.contrastive} and {self.contrastive_temperature}"
            )
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"train: ema must be a decay in [0, 1) (0: no average), got {self.ema}")
