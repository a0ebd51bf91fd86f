"""The real datasets in ../shared/data: counts agree with their sources, the reference split is reproduced."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tiderec.clean.pipeline import clean
from tiderec.clean.presets import preset
from tiderec.cli.main import cli
from tiderec.data.interactions import Interactions
from tiderec.data.splits import leave_one_out
from tiderec.data.stats import describe
from tiderec.ingest.datasets import data_root, load_dataset, online_retail
from tiderec.ingest.mapping import ReadOptions
from tiderec.ingest.tabular import Dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def online_retail_data() -> Dataset:
    return load_dataset("online-retail")


def test_online_retail_raw_and_after_negatives(online_retail_data: Dataset) -> None:
    raw = describe(online_retail_data.events)
    assert raw.events == 541_909
    assert raw.users == 4_372
    assert raw.missing["user_id"] == 135_080
    result = clean(online_retail_data.events, online_retail_data.items, preset("online-retail"))
    after_negatives = next(r for r in result.report.rules if r.rule == "non-positive value")
    assert (after_negatives.rows_after, after_negatives.users_after) == (397_924, 4_339)
    assert result.report.removed("cancellation") == len(result.negatives) == 8_905


def test_online_retail_recipe_reproduces_the_reference_split(online_retail_data: Dataset, data_root: Path) -> None:
    result = clean(online_retail_data.events, online_retail_data.items, preset("online-retail"))
    reference = pl.read_csv(
        data_root / "online-retail/benchmark/online_retail_5core.csv.gz",
        schema_overrides={"user_id": pl.String, "item_id": pl.String},
    )
    assert (len(result.events), len(result.user_vocab), len(result.item_vocab)) == (385_891, 4_100, 3_184)
    assert reference["timestamp"].to_list() == list(range(reference.height))
    assert result.events.frame.select("user_id", "item_id").equals(reference.select("user_id", "item_id"))


def test_online_retail_rda_matches_the_csv_export(online_retail_data: Dataset, data_root: Path) -> None:
    from_rda = load_dataset("online-retail", data_root / "online-retail/onlineretail.rda")
    assert from_rda.events.frame.equals(online_retail_data.events.frame)
    assert from_rda.items.frame.equals(online_retail_data.items.frame)


def test_reference_split_adapter_gives_the_literature_protocol() -> None:
    ds = load_dataset("online-retail-5core")
    result = clean(ds.events, ds.items, preset("online-retail-5core"))
    assert len(result.events) == 385_891
    split = leave_one_out(Interactions.from_events(result.events, result.user_vocab, result.item_vocab))
    assert len(split.test) == len(split.valid) == 4_100
    assert result.items.frame["title"].null_count() == 0


def test_amazon_beauty_counts() -> None:
    ds = load_dataset("amazon-beauty")
    stats = describe(ds.events)
    assert (stats.users, stats.items, stats.events) == (22_363, 12_101, 198_502)
    result = clean(ds.events, ds.items, preset("amazon-beauty"))
    assert len(result.events) == 198_502
    assert result.items.frame["attributes"].null_count() == 0


def test_taobao_counts_truncated_tail_and_time_window() -> None:
    ds = load_dataset("taobao-userbehavior")
    stats = describe(ds.events)
    assert (stats.events, stats.users) == (84_475, 815)
    assert [(r.reason, r.count) for r in ds.report.rejections] == [("truncated last line", 1)]
    result = clean(ds.events, ds.items, preset("taobao-userbehavior"))
    assert result.report.removed("outside time window") == 35
    assert stats.event_types == {"view": 75_872, "cart": 4_497, "fav": 2_356, "purchase": 1_750}


def test_movielens_counts() -> None:
    ds = load_dataset("movielens-latest-small")
    stats = describe(ds.events)
    assert (stats.events, stats.users, stats.items) == (100_004, 671, 9_066)
    assert len(ds.items) == 9_125


def test_bad_rows_in_a_real_slice_are_located_and_counted(tmp_path: Path, data_root: Path) -> None:
    with gzip.open(data_root / "online-retail/onlineretail.csv.gz", "rt", encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(1_001)]
    lines[10] = lines[10].replace("2010-12-01", "2010-13-01")
    lines[20] = ",".join(lines[20].split(",")[:5]) + "\n"
    lines[30] = lines[30].replace(",12.0,", ",twelve,")
    path = tmp_path / "slice.csv"
    path.write_text("".join(lines), encoding="utf-8")
    ds = online_retail.load(path, ReadOptions(skip_bad_rows=True))
    counts = {r.reason: (r.count, r.examples[0].line) for r in ds.report.rejections}
    assert counts == {"wrong number of fields": (1, 21), "unparsable timestamp": (1, 11), "not a number": (1, 31)}
    assert len(ds.events) == 997


def test_the_readme_main_job_under_a_small_budget(tmp_path: Path) -> None:
    """`tiderec pipeline` (the README's first command, every model) with a 90-second budget: every output is
    written, the summary says where, and training stayed inside the budget it was given."""
    result = CliRunner().invoke(cli, ["pipeline", "--out", str(tmp_path / "run"), "--budget", "90s"])
    assert result.exit_code == 0, result.output
    assert "cleaned 541,909 -> 385,891 events" in result.output
    assert (tmp_path / "run/cleaned/negatives.parquet").is_file()
    table = (tmp_path / "run/evaluation/results.md").read_text(encoding="utf-8")
    assert all(f"| {name}" in table for name in ("tiderec", "sasrec", "gru4rec", "pop", "markov", "itemknn"))
    assert (tmp_path / "run/models/tiderec/model.safetensors").is_file()
    assert "<svg" in (tmp_path / "run/report/report.html").read_text(encoding="utf-8")
    for line in ("dynamics report", "model table", "tiderec serve --data", "test NDCG@10 (seen kept): tiderec"):
        assert line in result.output
    stats = CliRunner().invoke(cli, ["stats", str(tmp_path / "run/ingested")])
    assert "events        541,909" in stats.output


def test_the_pipeline_on_a_users_own_csv_with_a_mapping(tmp_path: Path) -> None:
    """A shop's log in its own shape (Taobao's first 150 shoppers, renamed columns, its own action names and
    ISO times, items in a second file) runs end to end with `--mapping shop.toml`."""
    raw = pl.read_csv(data_root() / "taobao-userbehavior" / "UserBehavior.csv", has_header=False,
                      new_columns=["u", "i", "c", "b", "t"], n_rows=30_000, truncate_ragged_lines=True)  # fmt: skip
    raw = raw.filter(pl.col("u").is_in(raw["u"].unique(maintain_order=True).head(150).implode()))
    shop = raw.select(
        pl.col("u").alias("uid"),
        pl.col("i").alias("sku"),
        pl.col("b").alias("action"),
        pl.from_epoch("t").dt.strftime("%Y-%m-%d %H:%M:%S").alias("when"),
    )
    shop.write_csv(tmp_path / "events.csv")
    raw.select(pl.col("i").alias("sku"), pl.col("c").cast(pl.String).alias("cat")).unique("sku").write_csv(
        tmp_path / "items.csv"
    )
    (tmp_path / "shop.toml").write_text(
        '[events]\nuser_id = "uid"\nitem_id = "sku"\nts = "when"\nevent_type = "action"\n'
        'timezone = "Asia/Shanghai"\n[events.event_type_values]\npv = "view"\nbuy = "purchase"\n'
        '[items]\nitem_id = "sku"\ncategory = "cat"\n',
        encoding="utf-8",
    )
    files = [str(tmp_path / name) for name in ("events.csv", "items.csv", "shop.toml", "run")]
    args = ["pipeline", "csv", files[0], "--items", files[1], "--mapping", files[2], "--out", files[3]]
    args += ["--budget", "40s", "--models", "pop,tiderec"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "no item text" in result.output
    assert "| tiderec" in (tmp_path / "run/evaluation/results.md").read_text(encoding="utf-8")
    assert (tmp_path / "run/report/report.html").is_file()
