"""MovieLens latest-small in the S3-Rec form: a dataset the interest model was never tuned on, prepared the way
S3-Rec prepared its files, to run with the defaults only.

Usage:
  .venv/bin/python -m benchmarks.s3rec_movielens [--out runs/bench/ml-s3rec]
  .venv/bin/tiderec pipeline runs/bench/ml-s3rec/ML.txt --out runs/ml-s3rec

Every rating is an interaction; users' ratings in time order (ties by movie id); 5-core filtered (users and
items with >= 5 interactions, repeated until stable); ids renumbered from 1 in order of first appearance; each
movie's genres become attribute ids in `ML_item2attributes.json`. Reads ../shared/data (never copied into the
repository); writes only under --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl

from tiderec.ingest.datasets import data_root

CORE = 5
OUT = Path("runs/bench/ml-s3rec")
"""Where the file is written by default (and where benchmarks/bench_models.py reads it as dataset `ml`)."""


def five_core(ratings: pl.DataFrame, core: int = CORE) -> pl.DataFrame:
    """The rows left once every user and item has >= core rows (filtered until nothing changes)."""
    while True:
        kept = ratings.filter((pl.len().over("userId") >= core) & (pl.len().over("movieId") >= core))
        if kept.height == ratings.height:
            return kept
        ratings = kept


def prepare(source: Path, out: Path) -> tuple[int, int, int]:
    """Write out/ML.txt and out/ML_item2attributes.json; (users, items, interactions)."""
    ratings = pl.read_csv(source / "ratings.csv", schema_overrides={"userId": pl.Int64, "movieId": pl.Int64})
    ratings = five_core(ratings).sort("userId", "timestamp", "movieId")
    items = ratings.select("movieId").unique(maintain_order=True).with_row_index("iid", offset=1)
    users = ratings.select("userId").unique(maintain_order=True).with_row_index("uid", offset=1)
    rows = ratings.join(items, on="movieId").join(users, on="userId").sort("uid", "timestamp", "movieId")
    lines = rows.group_by("uid", maintain_order=True).agg(pl.col("iid"))
    out.mkdir(parents=True, exist_ok=True)
    with (out / "ML.txt").open("w", encoding="utf-8") as handle:
        for uid, iids in lines.iter_rows():
            handle.write(f"{uid} {' '.join(str(i) for i in iids)}\n")
    movies = pl.read_csv(source / "movies.csv").join(items, on="movieId")
    genres = sorted({g for gs in movies["genres"].to_list() for g in gs.split("|")})
    genre_id = {g: j for j, g in enumerate(genres, start=1)}
    attributes = {str(i): [genre_id[g] for g in gs.split("|")] for i, gs in movies.select("iid", "genres").iter_rows()}
    (out / "ML_item2attributes.json").write_text(json.dumps(attributes), encoding="utf-8")
    return lines.height, items.height, rows.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    users, items, interactions = prepare(data_root() / "movielens-latest-small", args.out)
    print(f"{users:,} users, {items:,} items, {interactions:,} interactions -> {args.out / 'ML.txt'}")


if __name__ == "__main__":
    main()
