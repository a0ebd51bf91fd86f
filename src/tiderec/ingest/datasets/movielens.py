"""MovieLens (latest-small and files of the same form): ratings become `review` events (value = rating).

Items: title from movies.csv, genres as attributes, the movie's free-text tags (tags.csv) as description.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tiderec.errors import DatasetError
from tiderec.ingest.mapping import EventMapping, ItemMapping, ReadOptions
from tiderec.ingest.raw import read_raw
from tiderec.ingest.tabular import Dataset, read_events, read_items

NAME = "movielens-latest-small"
DEFAULT_FILE = "movielens-latest-small"
MAPPING = EventMapping(
    user_id="userId",
    item_id="movieId",
    ts="timestamp",
    event_type_constant="review",
    value="rating",
    ts_format="unix_s",
)
ITEM_MAPPING = ItemMapping(item_id="movieId", title="title", attributes="genres", attributes_separator="|")


def load(path: Path, options: ReadOptions) -> Dataset:
    """`path` is the folder holding ratings.csv, movies.csv and (optionally) tags.csv."""
    folder = path if path.is_dir() else path.parent
    ratings, movies, tags = folder / "ratings.csv", folder / "movies.csv", folder / "tags.csv"
    if not ratings.is_file() or not movies.is_file():
        raise DatasetError(f"{folder}: expected ratings.csv and movies.csv in this folder")
    meta = {"source": NAME, "time": "event", "file": str(folder)}
    events, report = read_events(ratings, MAPPING, options, meta)
    items, items_report = read_items(movies, ITEM_MAPPING, options, meta)
    frame = items.frame.with_columns(
        pl.col("attributes").list.eval(pl.element().filter(pl.element() != "(no genres listed)")),
        language=pl.lit("en"),
    )
    if tags.is_file():
        raw = read_raw(tags, ["movieId", "tag"], options)
        described = (
            raw.frame.select(pl.col("movieId").str.strip_chars().alias("item_id"), pl.col("tag").str.strip_chars())
            .filter(pl.col("tag") != "")
            .unique(maintain_order=True)
            .group_by("item_id", maintain_order=True)
            .agg(pl.col("tag").str.join(", ").alias("description"))
        )
        frame = frame.drop("description").join(described, on="item_id", how="left")
    items = type(items).from_frame(frame, meta)
    return Dataset(events, items, report.merge(items_report))
