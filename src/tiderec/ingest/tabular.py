"""Generic readers: any CSV / Parquet / JSONL events file (and optional items file) through a column mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tiderec.ingest.convert import convert_events, convert_items
from tiderec.ingest.mapping import EventMapping, ItemMapping, ReadOptions
from tiderec.ingest.raw import RawTable, read_raw
from tiderec.ingest.report import IngestReport
from tiderec.types import Events, Items


@dataclass(frozen=True)
class Dataset:
    """What ingest produces: typed events and items plus the report of what was read and rejected."""

    events: Events
    items: Items
    report: IngestReport


def report_of(raw: RawTable, kept: int) -> IngestReport:
    """The ingest report of one raw read, given how many rows survived conversion."""
    return IngestReport(
        sources=(raw.path,),
        rows_read=raw.rows_read,
        rows_kept=kept,
        rejections=raw.rejects.rejections(),
        notes=raw.notes,
    )


def read_events(
    path: Path,
    mapping: EventMapping,
    options: ReadOptions | None = None,
    meta: Mapping[str, str] | None = None,
) -> tuple[Events, IngestReport]:
    """Events from one file; malformed rows raise BadRowError unless options.skip_bad_rows."""
    opts = options or ReadOptions()
    raw = read_raw(path, list(dict.fromkeys(mapping.columns().values())), opts)
    events = convert_events(raw, mapping, opts.skip_bad_rows, meta or {"source": str(path)})
    return events, report_of(raw, len(events))


def read_items(
    path: Path,
    mapping: ItemMapping,
    options: ReadOptions | None = None,
    meta: Mapping[str, str] | None = None,
) -> tuple[Items, IngestReport]:
    """Items from one file (first row wins for a repeated id; repeats are counted)."""
    opts = options or ReadOptions()
    raw = read_raw(path, list(dict.fromkeys(mapping.columns().values())), opts)
    items = convert_items(raw, mapping, opts.skip_bad_rows, meta or {"source": str(path)})
    return items, report_of(raw, len(items))


def read_tabular(
    events_path: Path,
    mapping: EventMapping,
    items_path: Path | None = None,
    item_mapping: ItemMapping | None = None,
    options: ReadOptions | None = None,
    items_options: ReadOptions | None = None,
) -> Dataset:
    """An events file and, optionally, an items file -> Dataset (items empty when no file is given)."""
    meta = {"source": "tabular", "events_file": str(events_path)}
    events, report = read_events(events_path, mapping, options, meta)
    if items_path is None:
        return Dataset(events, Items.empty(meta), report)
    if item_mapping is None:
        item_mapping = ItemMapping(item_id="item_id")
    items, items_report = read_items(items_path, item_mapping, items_options or options, meta)
    return Dataset(events, items, report.merge(items_report))
