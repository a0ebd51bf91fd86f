"""Generic CSV/Parquet/JSONL readers: typing, mapping, and precise errors for bad input."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from tiderec.errors import BadRowError, ConfigError, DatasetError
from tiderec.ingest.mapping import EventMapping, ItemMapping, ReadOptions
from tiderec.ingest.tabular import read_events, read_items, read_tabular

MAP = EventMapping(user_id="uid", item_id="sku", ts="time", event_type="action", value="qty")
HEADER = "uid,sku,time,action,qty\n"


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def test_reads_and_types_a_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", HEADER + "u1,a,2024-01-01 10:00:00,view,\nu1,b,2024-01-01 10:05:00,buy,2\n")
    mapping = EventMapping(
        user_id="uid", item_id="sku", ts="time", event_type="action", value="qty", event_type_values={"buy": "purchase"}
    )
    ev, report = read_events(path, mapping)
    assert ev.frame["event_type"].to_list() == ["view", "purchase"]
    assert ev.frame["value"].to_list() == [None, 2.0]
    assert ev.frame["ts"][0] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (2, 2, 0)


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", HEADER + "u1,a,2024-01-01,view,1\nu2,b,2024-01-02\nu3,c,2024-01-03,view,1\n")
    with pytest.raises(BadRowError, match=r"e\.csv:3: wrong number of fields: expected 5 fields, found 3"):
        read_events(path, MAP)


def test_unparsable_timestamp_names_line_column_and_format(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", HEADER + "u1,a,2024-01-01 10:00:00,view,1\nu2,b,yesterday,view,1\n")
    with pytest.raises(BadRowError) as info:
        read_events(path, MAP)
    row = info.value.row
    assert (row.line, row.column, row.reason, row.value) == (3, "time", "unparsable timestamp", "yesterday")
    assert "2024-01-01 10:00:00" in row.expected


def test_non_numeric_quantity(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", HEADER + "u1,a,2024-01-01,view,1\nu1,b,2024-01-02,view,two\n")
    with pytest.raises(BadRowError, match=r"e\.csv:3: column 'qty' not a number: expected a number, got 'two'"):
        read_events(path, MAP)


def test_invalid_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "e.csv", (HEADER + "u1,a,2024-01-01,view,1\nu\xff2,b,2024-01-02,view,1\n").encode("latin-1")
    )
    with pytest.raises(BadRowError) as info:
        read_events(path, MAP)
    assert (info.value.row.line, info.value.row.column, info.value.row.reason) == (3, "uid", "invalid UTF-8")


def test_unknown_event_type_lists_valid_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", HEADER + "u1,a,2024-01-01,like,1\n")
    with pytest.raises(BadRowError, match=r"unknown event type: expected one of \[.*'purchase'"):
        read_events(path, MAP)


def test_skip_bad_rows_counts_every_reason_and_keeps_the_rest(tmp_path: Path) -> None:
    body = (
        "u1,a,2024-01-01,view,1\n"
        "u2,b,2024-01-02\n"
        "u3,c,not-a-date,view,1\n"
        "u4,d,2024-01-04,view,x\n"
        "u5,e,2024-01-05,jump,1\n"
        "u6,f,2024-01-06,cart,3\n"
    )
    path = write(tmp_path / "e.csv", HEADER + body)
    ev, report = read_events(path, MAP, ReadOptions(skip_bad_rows=True))
    assert ev.frame["user_id"].to_list() == ["u1", "u6"]
    counts = {r.reason: r.count for r in report.rejections}
    assert counts == {
        "wrong number of fields": 1,
        "unparsable timestamp": 1,
        "not a number": 1,
        "unknown event type": 1,
    }
    assert report.rows_read == 6 == report.rows_kept + report.rows_rejected
    lines = sorted(ex.line or 0 for r in report.rejections for ex in r.examples)
    assert lines == [3, 4, 5, 6]


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="file is empty"):
        read_events(write(tmp_path / "empty.csv", ""), MAP)
    with pytest.raises(DatasetError, match=r"no data rows \(only a header\)"):
        read_events(write(tmp_path / "header.csv", HEADER), MAP)


def test_mapping_to_a_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", HEADER + "u1,a,2024-01-01,view,1\n")
    with pytest.raises(DatasetError, match=r"column\(s\) \['user'\] not found; the file has \['uid'"):
        read_events(path, EventMapping(user_id="user", item_id="sku", ts="time", event_type_constant="view"))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_events(tmp_path / "nope.csv", MAP)
    with pytest.raises(DatasetError, match="is a directory"):
        read_events(tmp_path, MAP)


def test_event_type_needs_a_column_or_a_constant(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", HEADER + "u1,a,2024-01-01,view,1\n")
    with pytest.raises(ConfigError, match="event_type_constant"):
        read_events(path, EventMapping(user_id="uid", item_id="sku", ts="time"))


def test_gzip_tsv_headerless_with_truncated_tail(tmp_path: Path) -> None:
    text = "1\t10\t1511544070\tpv\n2\t20\t1511544071\tbuy\n3\t30\t151154"
    path = tmp_path / "e.tsv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    mapping = EventMapping(
        user_id="u", item_id="i", ts="t", event_type="b", event_type_values={"pv": "view", "buy": "purchase"}
    )
    opts = ReadOptions(delimiter="\t", has_header=False, column_names=("u", "i", "t", "b"))
    with pytest.raises(BadRowError, match=r"e\.tsv\.gz:3: wrong number of fields"):
        read_events(path, mapping, opts)
    ev, report = read_events(path, mapping, ReadOptions(**{**opts.__dict__, "allow_truncated_last_line": True}))
    assert len(ev) == 2
    assert ev.frame["ts"][0] == datetime.fromtimestamp(1511544070, tz=UTC)
    assert [r.reason for r in report.rejections] == ["truncated last line"]


def test_multiline_values_report_physical_lines(tmp_path: Path) -> None:
    text = 'uid,sku,time,note\nu1,a,2024-01-01,"two\nlines"\nu2,b,bad-time,ok\n'
    path = write(tmp_path / "e.csv", text)
    mapping = EventMapping(user_id="uid", item_id="sku", ts="time", text="note", event_type_constant="review")
    with pytest.raises(BadRowError, match=r"e\.csv:4: column 'time'"):
        read_events(path, mapping, ReadOptions(multiline=True))


def test_naive_times_are_read_in_the_given_timezone(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "uid,sku,time\nu,a,2011-06-01 12:00:00\nu,b,2011-12-01 12:00:00\n")
    mapping = EventMapping(
        user_id="uid", item_id="sku", ts="time", event_type_constant="purchase", timezone="Europe/London"
    )
    ev, _ = read_events(path, mapping)
    assert [t.hour for t in ev.frame["ts"].to_list()] == [11, 12]


def test_unknown_timezone_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "uid,sku,time\nu,a,2011-06-01 12:00:00\n")
    mapping = EventMapping(user_id="uid", item_id="sku", ts="time", event_type_constant="view", timezone="Mars/Base")
    with pytest.raises(ConfigError, match="unknown timezone 'Mars/Base'"):
        read_events(path, mapping)


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        ("1511544070", "auto", datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC)),
        ("1511544070000", "auto", datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC)),
        ("1511544070500", "unix_ms", datetime(2017, 11, 24, 17, 21, 10, 500000, tzinfo=UTC)),
        ("2017-11-24T19:21:10+02:00", "auto", datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC)),
        ("24/11/2017 17:21", "%d/%m/%Y %H:%M", datetime(2017, 11, 24, 17, 21, tzinfo=UTC)),
    ],
)
def test_time_formats(tmp_path: Path, raw: str, fmt: str, expected: datetime) -> None:
    path = write(tmp_path / "e.csv", f"uid,sku,time\nu,a,{raw}\n")
    ev, _ = read_events(
        path, EventMapping(user_id="uid", item_id="sku", ts="time", event_type_constant="view", ts_format=fmt)
    )
    assert ev.frame["ts"][0] == expected


def test_order_format_marks_the_table(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "uid,sku,rank\nu,a,0\nu,b,1\n")
    mapping = EventMapping(user_id="uid", item_id="sku", ts="rank", event_type_constant="purchase", ts_format="order")
    ev, _ = read_events(path, mapping)
    assert ev.meta["time"] == "order"
    assert ev.frame["ts"].is_sorted()


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "uid": [17850.0, 13047.0],
            "sku": [1, 2],
            "when": [datetime(2024, 1, 1, 8), datetime(2024, 1, 1, 9)],
            "r": [4.5, None],
        }
    )
    path = tmp_path / "e.parquet"
    frame.write_parquet(path)
    ev, report = read_events(
        path, EventMapping(user_id="uid", item_id="sku", ts="when", value="r", event_type_constant="review")
    )
    assert ev.frame["user_id"].to_list() == ["17850", "13047"]
    assert ev.frame["item_id"].to_list() == ["1", "2"]
    assert ev.frame["ts"][1] == datetime(2024, 1, 1, 9, tzinfo=UTC)
    assert report.rows_kept == 2
    with pytest.raises(DatasetError, match=r"\['rating'\] not found"):
        read_events(
            path, EventMapping(user_id="uid", item_id="sku", ts="when", value="rating", event_type_constant="review")
        )


def test_jsonl_reads_mixed_value_types_and_locates_bad_lines(tmp_path: Path) -> None:
    lines = [
        '{"u": 1, "i": "a", "t": 1511544070, "q": "跑步鞋 500以内"}',
        "",
        '{"u": "2", "i": "b", "t": "2017-11-24T17:21:11Z", "q": null}',
        '{"u": 3, "i": "c", "t": 1511544072',
        '["not", "an", "object"]',
        '{"u": 4, "i": {"nested": 1}, "t": 1}',
    ]
    path = write(tmp_path / "e.jsonl", "\n".join(lines) + "\n")
    mapping = EventMapping(user_id="u", item_id="i", ts="t", text="q", event_type_constant="search")
    with pytest.raises(BadRowError, match=r"e\.jsonl:4: invalid JSON"):
        read_events(path, mapping)
    ev, report = read_events(path, mapping, ReadOptions(skip_bad_rows=True))
    assert ev.frame["user_id"].to_list() == ["1", "2"]
    assert ev.frame["text"].to_list() == ["跑步鞋 500以内", None]
    assert ev.frame["ts"].to_list() == [
        datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC),
        datetime(2017, 11, 24, 17, 21, 11, tzinfo=UTC),
    ]
    assert sorted(r.reason for r in report.rejections) == [
        "invalid JSON (Expecting ',' delimiter at column 35)",
        "nested value",
        "not a JSON object",
    ]


def test_jsonl_field_never_present(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", '{"u": 1, "i": "a", "t": 1}\n')
    with pytest.raises(DatasetError, match=r"field\(s\) \['q'\] never appear"):
        read_events(path, EventMapping(user_id="u", item_id="i", ts="t", text="q", event_type_constant="search"))


def test_items_split_lists_detect_language_and_count_repeats(tmp_path: Path) -> None:
    text = (
        "sku,name,cat,brand,price\n"
        "a,李宁 男子跑步鞋 轻便透气,鞋 > 运动鞋 > 跑步鞋,李宁,399\n"
        "b,Trail running shoe,Shoes > Running,Salomon,120.5\n"
        "a,duplicate row,x,y,1\n"
        ",no id,x,y,1\n"
        "c,,,,\n"
    )
    path = write(tmp_path / "items.csv", text)
    mapping = ItemMapping(item_id="sku", title="name", category="cat", brand="brand", price="price")
    items, report = read_items(path, mapping)
    frame = items.frame
    assert frame["item_id"].to_list() == ["a", "b", "c"]
    assert frame["category"].to_list()[0] == ["鞋", "运动鞋", "跑步鞋"]
    assert frame["language"].to_list() == ["zh", "en", "und"]
    assert frame["price"].to_list() == [399.0, 120.5, None]
    assert {r.reason: r.count for r in report.rejections} == {"missing item id": 1, "repeated item id": 1}


def test_read_tabular_merges_reports(tmp_path: Path) -> None:
    ev_path = write(tmp_path / "e.csv", HEADER + "u1,a,2024-01-01,view,1\n")
    it_path = write(tmp_path / "i.csv", "sku,name\na,Thing\n")
    ds = read_tabular(ev_path, MAP, it_path, ItemMapping(item_id="sku", title="name"))
    assert len(ds.events) == 1
    assert len(ds.items) == 1
    assert ds.report.rows_read == 2
    assert len(ds.report.sources) == 2
