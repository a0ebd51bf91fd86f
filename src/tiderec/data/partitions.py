"""Cleaned events as user-partitioned Parquet, and training windows built one partition at a time.

Every user's events land in one partition (hash of the user id), in their original order, so a partition holds
complete histories: leave-one-out and window building need nothing from other partitions, and the windows of
all partitions together are exactly the single-process `training_windows` of the leave-one-out training rows.
Partitions are the unit a cluster parallelises over (see `tiderec.data.ray_windows`); each must fit one worker.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tiderec.clean.vocab import Vocabulary
from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays, training_windows
from tiderec.data.splits import leave_one_out
from tiderec.errors import ConfigError, DatasetError
from tiderec.types import Events

ORDER = "_order"
"""Column holding each event's row in the input, the tie-break for events at the same instant."""


def write_user_partitions(events: Events, folder: Path, partitions: int) -> list[Path]:
    """Write `events` as `partitions` Parquet files by a stable hash of the user id; the files written."""
    if partitions < 1:
        raise ConfigError(f"partitions must be >= 1, got {partitions}")
    folder.mkdir(parents=True, exist_ok=True)
    frame = events.frame.with_row_index(ORDER).with_columns(
        (pl.col("user_id").hash(seed=0) % partitions).alias("_part")
    )
    paths = []
    for part in range(partitions):
        path = folder / f"part-{part:05d}.parquet"
        frame.filter(pl.col("_part") == part).drop("_part").write_parquet(path)
        paths.append(path)
    return paths


def partition_windows(path: Path, item_vocab: Vocabulary, max_len: int) -> SequenceArrays:
    """The training windows (leave-one-out training rows) of one partition's users; items indexed by the
    global `item_vocab` (users need no global index: windows do not carry them)."""
    frame = pl.read_parquet(path).sort(ORDER).drop(ORDER)
    if frame.height == 0:
        return SequenceArrays.empty(0, max_len)
    inter = Interactions.from_events(Events.from_frame(frame), None, item_vocab)
    try:
        train = leave_one_out(inter).train
    except DatasetError:
        train = inter
    return training_windows(train, max_len)
