"""Alibaba Taobao UserBehavior (2017-11-25..12-03): headerless `user,item,category,behavior,unix_seconds`.

pv/cart/fav/buy become view/cart/fav/purchase. The shipped slice ends in a truncated line, which this
adapter drops and reports by default. Items carry their category id as a one-level category path (the most
frequent one where the log disagrees). Out-of-window timestamps are left to cleaning.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl

from tiderec.ingest.convert import convert_events
from tiderec.ingest.mapping import EventMapping, ReadOptions
from tiderec.ingest.raw import read_raw
from tiderec.ingest.tabular import Dataset, report_of
from tiderec.types import Items

NAME = "taobao-userbehavior"
DEFAULT_FILE = "taobao-userbehavior/UserBehavior.csv"
COLUMNS = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
MAPPING = EventMapping(
    user_id="user_id",
    item_id="item_id",
    ts="timestamp",
    event_type="behavior_type",
    event_type_values={"pv": "view", "cart": "cart", "fav": "fav", "buy": "purchase"},
    ts_format="unix_s",
)


def load(path: Path, options: ReadOptions) -> Dataset:
    opts = dataclasses.replace(options, has_header=False, column_names=COLUMNS, allow_truncated_last_line=True)
    raw = read_raw(path, COLUMNS, opts)
    meta = {"source": NAME, "time": "event", "file": str(path)}
    events = convert_events(raw, MAPPING, opts.skip_bad_rows, meta)
    items = (
        raw.frame.select(pl.col("item_id").str.strip_chars(), pl.col("category_id").str.strip_chars())
        .filter((pl.col("item_id") != "") & (pl.col("category_id") != ""))
        .group_by("item_id", "category_id", maintain_order=True)
        .len()
        .sort("len", descending=True, maintain_order=True)
        .unique("item_id", keep="first", maintain_order=True)
        .select("item_id", pl.concat_list("category_id").alias("category"), language=pl.lit("und"))
    )
    return Dataset(events, Items.from_frame(items, meta), report_of(raw, len(events)))
