"""The ingest artefact folder: events.parquet, items.parquet, ingest_report.{json,md}, manifest.json."""

from __future__ import annotations

from pathlib import Path

from tiderec.artefacts import read_json, read_manifest, write_json, writing
from tiderec.ingest.report import IngestReport
from tiderec.ingest.tabular import Dataset
from tiderec.types import Events, Items

KIND = "tiderec.ingested"


def write_dataset(dataset: Dataset, out: Path) -> None:
    fields = {"events": len(dataset.events), "items": len(dataset.items), "meta": dict(dataset.events.meta)}
    with writing(out, KIND, fields) as tmp:
        dataset.events.write_parquet(tmp / "events.parquet")
        dataset.items.write_parquet(tmp / "items.parquet")
        write_json(tmp / "ingest_report.json", dataset.report.to_dict())
        (tmp / "ingest_report.md").write_text(dataset.report.to_markdown(), encoding="utf-8")


def read_dataset(folder: Path) -> Dataset:
    read_manifest(folder, (KIND,))
    return Dataset(
        Events.read_parquet(folder / "events.parquet"),
        Items.read_parquet(folder / "items.parquet"),
        read_json(folder / "ingest_report.json", IngestReport.from_dict),
    )
