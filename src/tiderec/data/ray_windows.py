"""Training windows built on a Ray cluster: one task per user partition (`tiderec.data.partitions`), each
writing its windows as Parquet, which Ray Train then reads; the driver never holds the windows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from tiderec.clean.vocab import Vocabulary
from tiderec.cluster import RayConfig, connect
from tiderec.data.partitions import partition_windows, write_user_partitions
from tiderec.types import Events


@dataclass(frozen=True)
class WindowFiles:
    """Windows as Parquet files (one per partition; `SequenceArrays.to_arrow` rows) and how many there are."""

    folder: Path
    windows: int


def windows_task(path: str, item_vocab: Vocabulary, max_len: int, out: str) -> int:
    """One partition's windows -> `out` (Parquet); the number of windows."""
    arrays = partition_windows(Path(path), item_vocab, max_len)
    pq.write_table(arrays.to_arrow(), out)
    return len(arrays)


def build_windows_ray(
    events: Events,
    item_vocab: Vocabulary,
    max_len: int,
    folder: Path,
    partitions: int,
    ray_config: RayConfig | None = None,
) -> WindowFiles:
    """Partition `events` by user under folder/events, then build every partition's windows in a Ray task
    into folder/windows (both on storage the cluster's workers can read)."""
    paths = write_user_partitions(events, folder / "events", partitions)
    out = folder / "windows"
    out.mkdir(parents=True, exist_ok=True)
    ray = connect(ray_config)
    task = ray.remote(windows_task)
    vocab = ray.put(item_vocab)
    refs = [task.remote(str(path), vocab, max_len, str(out / path.name)) for path in paths]
    return WindowFiles(out, int(sum(ray.get(refs))))
