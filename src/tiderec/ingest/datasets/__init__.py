"""Known datasets: name -> adapter (one small module each). Another dataset = one more module + one entry."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tiderec.errors import DatasetError
from tiderec.ingest.datasets import amazon_s3rec, movielens, online_retail, online_retail_5core, taobao
from tiderec.ingest.mapping import ReadOptions
from tiderec.ingest.tabular import Dataset

DATA_ROOT_ENV = "TIDEREC_DATA"
DEFAULT_DATA_ROOT = Path("../shared/data")


@dataclass(frozen=True)
class DatasetAdapter:
    """How to read one known dataset: its default location under the data root and its loader."""

    name: str
    summary: str
    default_file: str
    load: Callable[[Path, ReadOptions], Dataset]


DATASETS: dict[str, DatasetAdapter] = {
    a.name: a
    for a in (
        DatasetAdapter(
            online_retail.NAME,
            "UCI Online Retail purchases (.rda or .csv.gz)",
            online_retail.DEFAULT_FILE,
            online_retail.load,
        ),
        DatasetAdapter(
            online_retail_5core.NAME,
            "Online Retail reference 5-core split (rank timestamps)",
            online_retail_5core.DEFAULT_FILE,
            online_retail_5core.load,
        ),
        DatasetAdapter(taobao.NAME, "Taobao UserBehavior pv/cart/fav/buy", taobao.DEFAULT_FILE, taobao.load),
        DatasetAdapter(
            amazon_s3rec.NAME,
            "Amazon reviews in S3-Rec form (any category)",
            amazon_s3rec.DEFAULT_FILE,
            amazon_s3rec.load,
        ),
        DatasetAdapter(
            movielens.NAME, "MovieLens ratings + titles, genres, tags", movielens.DEFAULT_FILE, movielens.load
        ),
    )
}


def data_root() -> Path:
    """The folder holding the shipped datasets: $TIDEREC_DATA, else ../shared/data."""
    return Path(os.environ.get(DATA_ROOT_ENV, str(DEFAULT_DATA_ROOT)))


def get_adapter(name: str) -> DatasetAdapter:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {sorted(DATASETS)}") from None


def load_dataset(name: str, path: Path | None = None, options: ReadOptions | None = None) -> Dataset:
    """Read a known dataset from `path` (default: its file under the data root)."""
    adapter = get_adapter(name)
    source = path if path is not None else data_root() / adapter.default_file
    if not source.exists():
        raise DatasetError(
            f"{source}: no such file or folder for dataset {name!r} (set ${DATA_ROOT_ENV} or pass a path)"
        )
    return adapter.load(source, options or ReadOptions())
