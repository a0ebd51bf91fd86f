"""The Online Retail reference split (benchmark/online_retail_5core.csv.gz): `user_id,item_id,timestamp`,
where timestamp is the global rank in time order. Read with time = order, so leave-one-out on it is exactly
the literature protocol; item titles and prices come from the raw table beside it when present."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tiderec.ingest.datasets import online_retail
from tiderec.ingest.mapping import EventMapping, ReadOptions
from tiderec.ingest.raw import read_raw
from tiderec.ingest.tabular import Dataset, read_events
from tiderec.types import Items

NAME = "online-retail-5core"
DEFAULT_FILE = "online-retail/benchmark/online_retail_5core.csv.gz"
MAPPING = EventMapping(
    user_id="user_id", item_id="item_id", ts="timestamp", event_type_constant="purchase", ts_format="order"
)


def load(path: Path, options: ReadOptions) -> Dataset:
    meta = {"source": NAME, "file": str(path)}
    events, report = read_events(path, MAPPING, options, meta)
    raw_table = path.parent.parent / "onlineretail.csv.gz"
    ids = events.frame.select(pl.col("item_id").unique(maintain_order=True))
    if raw_table.is_file():
        catalogue = online_retail.catalogue(read_raw(raw_table, online_retail.COLUMNS, options).frame)
        ids = ids.join(catalogue, on="item_id", how="left", maintain_order="left")
    return Dataset(events, Items.from_frame(ids, events.meta), report)
