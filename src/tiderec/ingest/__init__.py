"""Ingest: files and known datasets -> typed `Events` and `Items`, with a report of rejected rows."""

from tiderec.ingest.datasets import DATASETS, load_dataset
from tiderec.ingest.mapping import EventMapping, ItemMapping, ReadOptions
from tiderec.ingest.report import IngestReport, Rejection
from tiderec.ingest.store import read_dataset, write_dataset
from tiderec.ingest.tabular import Dataset, read_events, read_items, read_tabular

__all__ = [
    "DATASETS",
    "Dataset",
    "EventMapping",
    "IngestReport",
    "ItemMapping",
    "ReadOptions",
    "Rejection",
    "load_dataset",
    "read_dataset",
    "read_events",
    "read_items",
    "read_tabular",
    "write_dataset",
]
