"""Windows built partition by partition equal the single-process windows (real Online Retail histories, with
their many same-instant basket events, which the tie-break must keep in order)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tiderec.data.interactions import Interactions
from tiderec.data.partitions import partition_windows, write_user_partitions
from tiderec.data.ray_windows import build_windows_ray
from tiderec.data.sequences import FIELDS, SequenceArrays, training_windows
from tiderec.data.splits import leave_one_out
from tiderec.errors import ConfigError
from tiderec.ingest.datasets import load_dataset
from tiderec.types import Events

MAX_LEN = 20


@pytest.fixture(scope="module")
def events(data_root: Path) -> Events:
    """The events of 300 real Online Retail 5-core users, in the file's order."""
    ds = load_dataset("online-retail-5core")
    users = ds.events.frame["user_id"].unique(maintain_order=True).head(300)
    return ds.events.with_frame(ds.events.frame.filter(pl.col("user_id").is_in(users.implode())))


def rows(arrays: SequenceArrays) -> np.ndarray:
    """Each window as one row of all its fields, rows sorted: a multiset to compare."""
    flat = np.concatenate([getattr(arrays, name) for name in FIELDS], axis=1)
    return flat[np.lexsort(flat.T[::-1])]


def single_process(events: Events) -> tuple[SequenceArrays, Interactions]:
    inter = Interactions.from_events(events)
    return training_windows(leave_one_out(inter).train, MAX_LEN), inter


@pytest.mark.parametrize("partitions", [1, 4])
def test_partition_windows_equal_the_single_process_windows(events: Events, tmp_path: Path, partitions: int) -> None:
    expected, inter = single_process(events)
    paths = write_user_partitions(events, tmp_path, partitions)
    parts = [partition_windows(path, inter.item_vocab, MAX_LEN) for path in paths]
    got = SequenceArrays(*(np.concatenate([getattr(p, name) for p in parts]) for name in FIELDS))
    assert len(paths) == partitions
    assert len(got) == len(expected) > 300
    np.testing.assert_array_equal(rows(got), rows(expected))


def test_a_user_lives_in_one_partition_in_input_order(events: Events, tmp_path: Path) -> None:
    paths = write_user_partitions(events, tmp_path, 5)
    frames = [pl.read_parquet(p) for p in paths]
    owners = pl.concat([f.select("user_id").unique().with_columns(part=pl.lit(i)) for i, f in enumerate(frames)])
    assert owners["user_id"].is_unique().all()
    assert sum(f.height for f in frames) == len(events)
    assert all(f["_order"].is_sorted() for f in frames)


def test_arrow_round_trip_and_bad_partition_count(events: Events, tmp_path: Path) -> None:
    windows, _ = single_process(events)
    back = SequenceArrays.from_arrow(windows.to_arrow())
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(windows, name))
    with pytest.raises(ConfigError, match="partitions must be >= 1"):
        write_user_partitions(events, tmp_path, 0)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_ray_tasks_write_the_same_windows(events: Events, tmp_path: Path) -> None:
    expected, inter = single_process(events)
    files = build_windows_ray(events, inter.item_vocab, MAX_LEN, tmp_path, 3)
    got = SequenceArrays.from_arrow(pl.read_parquet(files.folder).to_arrow())
    assert files.windows == len(expected)
    assert len(list(files.folder.glob("*.parquet"))) == 3
    np.testing.assert_array_equal(rows(got), rows(expected))
