"""The Ray encoding engine against the local one: a real model on a real catalogue slice, same store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tiderec.cli.main import cli
from tiderec.ingest.datasets import load_dataset
from tiderec.ingest.report import IngestReport
from tiderec.ingest.store import write_dataset
from tiderec.ingest.tabular import Dataset
from tiderec.text.encode import encode_items
from tiderec.text.encoders import EncoderConfig, load_encoder
from tiderec.text.ray_encode import RayEncodeConfig, encode_items_ray
from tiderec.text.store import read_vectors
from tiderec.types import Events, Items

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster", "data_root")]

USE = EncoderConfig(name="use", threads=1)


@pytest.fixture(scope="module")
def items() -> Items:
    """300 real Online Retail items, two of them without any text."""
    frame = load_dataset("online-retail-5core").items.frame.head(300)
    return Items.from_frame(frame.with_columns(title=pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise("title")))


def test_ray_engine_writes_the_local_engines_store_and_ignores_stale_scratch(items: Items, tmp_path: Path) -> None:
    local, local_report = encode_items(items, load_encoder(USE), progress=False)
    config = RayEncodeConfig(actors=1, batch_size=64, rows_per_file=100, scratch=str(tmp_path))
    distributed, report = encode_items_ray(items, USE, config=config)
    assert distributed.space == local.space
    assert distributed.item_ids.to_list() == local.item_ids.to_list()
    assert distributed.text_hashes.to_list() == local.text_hashes.to_list()
    cosine = (distributed.vectors * local.vectors).sum(axis=1)
    has_text = np.abs(local.vectors).sum(axis=1) > 0
    assert has_text.sum() == 298
    assert cosine[has_text].min() >= 0.9999
    assert not distributed.vectors[~has_text].any()
    assert (report.encoded, report.reused, report.empty_texts) == (
        local_report.encoded,
        local_report.reused,
        local_report.empty_texts,
    )
    assert len(list((tmp_path / "texts").glob("*.parquet"))) == 3
    outputs = [pq.read_table(f) for f in (tmp_path / "vectors").glob("*.parquet")]
    assert max(t.num_rows for t in outputs) <= 64
    rows = np.concatenate([t.column("row").to_numpy() for t in outputs])
    assert sorted(rows.tolist()) == list(range(298))

    fewer = Items.from_frame(items.frame.head(120))
    again, report = encode_items_ray(fewer, USE, config=config)
    local, _ = encode_items(fewer, load_encoder(USE), progress=False)
    assert report.encoded == 118
    assert len(list((tmp_path / "texts").glob("*.parquet"))) == 2
    assert (again.vectors * local.vectors).sum(axis=1)[2:].min() >= 0.9999


def test_ray_engine_reuses_unchanged_vectors(items: Items) -> None:
    first, _ = encode_items_ray(items, USE)
    changed = items.frame.with_columns(
        title=pl.when(pl.int_range(pl.len()).is_between(10, 14)).then(pl.col("title") + " XL").otherwise("title")
    )
    second, report = encode_items_ray(Items.from_frame(changed), USE, previous=first)
    assert (report.encoded, report.reused) == (5, 293)
    moved = ~np.isclose((first.vectors * second.vectors).sum(axis=1), 1.0, atol=1e-6)
    assert np.flatnonzero(moved[2:]).tolist() == [8, 9, 10, 11, 12]
    assert not first.vectors[:2].any()
    assert not second.vectors[:2].any()


def test_cli_encodes_on_ray_and_refuses_ray_options_without_it(items: Items, tmp_path: Path) -> None:
    folder = tmp_path / "ingested"
    write_dataset(Dataset(Events.empty(), Items.from_frame(items.frame.head(40)), IngestReport(("t",), 0, 0)), folder)
    args = ["encode", str(folder), "--encoder", "use", "--out", str(tmp_path / "vectors")]
    result = CliRunner().invoke(cli, [*args, "--engine", "ray", "--actors", "1"])
    assert result.exit_code == 0, result.output
    assert "encoded 38 of 40 items with use" in result.output
    assert read_vectors(tmp_path / "vectors").vectors.shape == (40, 512)
    refused = CliRunner().invoke(cli, [*args, "--actors", "2"])
    assert refused.exit_code == 2
    assert "need --engine ray" in refused.output
