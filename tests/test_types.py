from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import events
from tiderec.errors import DatasetError
from tiderec.types import EVENT_SCHEMA, EVENT_TYPES, Events, Items


def test_from_frame_adds_optional_columns_in_schema_order() -> None:
    ev = events([("u1", "i1", 0), ("u2", "i2", 5)])
    assert list(ev.frame.schema) == list(EVENT_SCHEMA)
    assert ev.frame["value"].null_count() == 2
    assert ev.frame["ts"].dtype == pl.Datetime("us", "UTC")


def test_missing_required_column_is_named() -> None:
    with pytest.raises(DatasetError, match=r"missing required column\(s\) \['item_id'"):
        Events.from_frame(pl.DataFrame({"user_id": ["a"], "ts": [1], "event_type": ["view"]}))


def test_unknown_column_is_rejected() -> None:
    frame = events([("u", "i", 0)]).frame.with_columns(country=pl.lit("UK"))
    with pytest.raises(DatasetError, match="unknown column"):
        Events.from_frame(frame)


def test_unknown_event_type_fails_the_cast() -> None:
    frame = events([("u", "i", 0)]).frame.with_columns(event_type=pl.lit("like"))
    with pytest.raises(DatasetError, match="wrong type"):
        Events.from_frame(frame)


def test_constructor_rejects_a_frame_with_the_wrong_schema() -> None:
    frame = events([("u", "i", 0)]).frame.drop("text")
    with pytest.raises(DatasetError, match="differs"):
        Events(frame)


def test_parquet_round_trip_keeps_rows_types_and_meta(tmp_path: Path) -> None:
    ev = Events.from_frame(events([("u", "i", 0), ("v", "j", 1)]).frame, {"source": "x", "time": "order"})
    ev.write_parquet(tmp_path / "e.parquet")
    back = Events.read_parquet(tmp_path / "e.parquet")
    assert back.frame.equals(ev.frame)
    assert back.meta == {"source": "x", "time": "order"}
    assert back.frame["event_type"].dtype == pl.Enum(EVENT_TYPES)


def test_items_require_unique_ids() -> None:
    with pytest.raises(DatasetError, match="unique"):
        Items.from_frame(pl.DataFrame({"item_id": ["a", "a"]}))


def test_items_round_trip(tmp_path: Path) -> None:
    items = Items.from_frame(
        pl.DataFrame({"item_id": ["a"], "title": ["跑步鞋"], "category": [["鞋", "运动鞋"]], "price": [199.0]})
    )
    items.write_parquet(tmp_path / "i.parquet")
    back = Items.read_parquet(tmp_path / "i.parquet")
    assert back.frame.equals(items.frame)
    assert back.frame["category"].to_list() == [["鞋", "运动鞋"]]
