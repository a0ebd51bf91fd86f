"""Dataset adapters on small files of each dataset's form (the real files are covered in integration/)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tiderec.errors import BadRowError, DatasetError
from tiderec.ingest.datasets import DATASETS, get_adapter, load_dataset
from tiderec.ingest.mapping import ReadOptions


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset 'beauty'; known datasets: \['amazon-beauty'"):
        get_adapter("beauty")


def test_missing_default_file_names_the_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEREC_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="TIDEREC_DATA"):
        load_dataset("online-retail")


def test_s3rec_form_with_attributes(tmp_path: Path) -> None:
    (tmp_path / "Toys.txt").write_text("1 5 6 7\n2 6 5\n\n", encoding="utf-8")
    (tmp_path / "Toys_item2attributes.json").write_text(json.dumps({"5": [1, 2], "6": [3]}), encoding="utf-8")
    ds = get_adapter("amazon-beauty").load(tmp_path / "Toys.txt", ReadOptions())
    frame = ds.events.frame
    assert frame["item_id"].to_list() == ["5", "6", "7", "6", "5"]
    assert ds.events.meta["time"] == "order"
    assert ds.events.meta["source"] == "amazon-s3rec:Toys"
    assert [t.timestamp() for t in frame["ts"].to_list()] == [0, 1, 2, 0, 1]
    attrs = dict(zip(ds.items.frame["item_id"], ds.items.frame["attributes"].to_list(), strict=True))
    assert attrs == {"5": ["1", "2"], "6": ["3"], "7": None}


def test_s3rec_line_without_items(tmp_path: Path) -> None:
    path = tmp_path / "Bad.txt"
    path.write_text("1 5 6\n2\n3 7\n", encoding="utf-8")
    with pytest.raises(BadRowError, match=r"Bad\.txt:2: no items"):
        get_adapter("amazon-beauty").load(path, ReadOptions())
    ds = get_adapter("amazon-beauty").load(path, ReadOptions(skip_bad_rows=True))
    assert ds.report.rows_rejected == 1
    assert len(ds.events) == 3


def test_taobao_form_drops_and_reports_a_truncated_tail(tmp_path: Path) -> None:
    path = tmp_path / "UserBehavior.csv"
    path.write_text(
        "1,10,100,pv,1511544070\n1,11,100,buy,1511544080\n2,10,100,fav,1511544090\n2,12,101,pv", encoding="utf-8"
    )
    ds = get_adapter("taobao-userbehavior").load(path, ReadOptions())
    assert ds.events.frame["event_type"].to_list() == ["view", "purchase", "fav"]
    assert ds.report.rows_rejected == 1
    assert ds.report.rejections[0].reason == "truncated last line"
    assert dict(zip(ds.items.frame["item_id"], ds.items.frame["category"].to_list(), strict=True))["10"] == ["100"]


def test_online_retail_csv_form(tmp_path: Path) -> None:
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    rows = [
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6.0,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
        "536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2.0,2011-07-01 08:26:00,2.95,17850.0,United Kingdom",
        "536367,85123A,CREAM HEART HOLDER,1.0,2011-07-01 09:00:00,3.35,,United Kingdom",
        "C536368,22633,HAND WARMER UNION JACK,-1.0,2011-07-02 10:00:00,2.10,13047.0,United Kingdom",
    ]
    path = tmp_path / "or.csv.gz"
    path.write_bytes(gzip.compress((header + "\n".join(rows) + "\n").encode()))
    ds = get_adapter("online-retail").load(path, ReadOptions())
    frame = ds.events.frame
    assert frame["user_id"].to_list() == ["17850", "17850", None, "13047"]
    assert frame["basket_id"].to_list()[3] == "C536368"
    assert frame["ts"][1].hour == 7
    items = dict(zip(ds.items.frame["item_id"], ds.items.frame["title"], strict=True))
    assert items["85123A"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    prices = dict(zip(ds.items.frame["item_id"], ds.items.frame["price"], strict=True))
    assert prices["85123A"] == 2.95
    assert prices["22633"] is None


def test_movielens_folder_form(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n", encoding="utf-8")
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n31,"Dangerous Minds (1995)",Drama\n32,Empty,(no genres listed)\n', encoding="utf-8"
    )
    (tmp_path / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n1,31,teacher,1\n2,31,school,2\n", encoding="utf-8"
    )
    ds = get_adapter("movielens-latest-small").load(tmp_path, ReadOptions())
    assert ds.events.frame["value"].to_list() == [2.5]
    assert ds.events.frame["event_type"].to_list() == ["review"]
    row = ds.items.frame.row(0, named=True)
    assert (row["title"], row["attributes"], row["description"]) == (
        "Dangerous Minds (1995)",
        ["Drama"],
        "teacher, school",
    )
    assert ds.items.frame.row(1, named=True)["attributes"] == []


def test_every_adapter_has_a_default_file_under_the_data_root(data_root: Path) -> None:
    for adapter in DATASETS.values():
        assert (data_root / adapter.default_file).exists(), adapter.name
