"""UCI Online Retail (UK gift shop, 2010-12..2011-12): the published .rda or its .csv(.gz) export.

Every invoice line becomes a `purchase` event (value = Quantity, basket_id = InvoiceNo); cancellations
('C' invoices) and non-positive quantities are kept here and handled by cleaning. InvoiceDate is UK local
time. CustomerID is stored as a float (17850.0) in the published table and is written as the integer id.
Items: title = the most frequent Description of a StockCode, price = median UnitPrice of its sales.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tiderec.errors import DatasetError
from tiderec.ingest.convert import convert_events
from tiderec.ingest.mapping import EventMapping, ReadOptions
from tiderec.ingest.raw import RawTable, read_raw
from tiderec.ingest.tabular import Dataset, report_of
from tiderec.types import Items

NAME = "online-retail"
DEFAULT_FILE = "online-retail/onlineretail.csv.gz"
COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
MAPPING = EventMapping(
    user_id="CustomerID",
    item_id="StockCode",
    ts="InvoiceDate",
    event_type_constant="purchase",
    value="Quantity",
    basket_id="InvoiceNo",
    ts_format="%Y-%m-%d %H:%M:%S",
    timezone="Europe/London",
)


def load(path: Path, options: ReadOptions) -> Dataset:
    """Read the .rda (via pyreadr) or the CSV export into events and items."""
    raw = _read_rda(path) if path.suffix.lower() in (".rda", ".rdata") else read_raw(path, COLUMNS, options)
    frame = raw.frame
    if frame["CustomerID"].dtype == pl.String:
        frame = frame.with_columns(pl.col("CustomerID").str.replace(r"\.0+$", ""))
    raw = RawTable(raw.path, frame, raw.lines, raw.rows_read, raw.rejects, raw.notes)
    meta = {"source": NAME, "time": "event", "file": str(path)}
    events = convert_events(raw, MAPPING, options.skip_bad_rows, meta)
    items = Items.from_frame(catalogue(frame), meta)
    return Dataset(events, items, report_of(raw, len(events)))


def _read_rda(path: Path) -> RawTable:
    import pyreadr

    try:
        tables = pyreadr.read_r(str(path), output_format="polars")
    except (pyreadr.custom_errors.PyreadrError, pyreadr.custom_errors.LibrdataError) as exc:
        raise DatasetError(f"{path}: not a readable R data file: {exc}") from None
    if "onlineretail" not in tables:
        raise DatasetError(f"{path}: no object 'onlineretail' (found {list(tables)})")
    frame = tables["onlineretail"]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: column(s) {missing} not found; the table has {frame.columns}")
    return RawTable.from_frame(str(path), frame.select(COLUMNS))


def catalogue(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per StockCode: most frequent Description as title, median sale price, language en."""
    desc = pl.col("Description").cast(pl.String).str.strip_chars()
    rows = frame.select(
        pl.col("StockCode").cast(pl.String).str.strip_chars().alias("item_id"),
        pl.when(desc == "").then(None).otherwise(desc).alias("title"),
        pl.col("UnitPrice").cast(pl.Float64, strict=False).alias("price"),
        pl.col("Quantity").cast(pl.Float64, strict=False).alias("qty"),
    ).with_row_index("row")
    titles = (
        rows.drop_nulls("title")
        .group_by("item_id", "title")
        .agg(pl.len().alias("n"), pl.col("row").min().alias("first"))
        .sort(["item_id", "n", "first"], descending=[False, True, False])
        .unique("item_id", keep="first")
        .select("item_id", "title")
    )
    prices = rows.filter((pl.col("price") > 0) & (pl.col("qty") > 0)).group_by("item_id").agg(pl.col("price").median())
    order = rows.group_by("item_id").agg(pl.col("row").min()).sort("row").select("item_id")
    return (
        order.join(titles, on="item_id", how="left")
        .join(prices, on="item_id", how="left")
        .with_columns(language=pl.lit("en"))
        .filter(pl.col("item_id").is_not_null() & (pl.col("item_id") != ""))
    )
