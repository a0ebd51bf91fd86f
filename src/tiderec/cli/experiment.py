"""`tiderec experiment`: A/B reports from exposure and outcome logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
import polars as pl

from tiderec.errors import DatasetError
from tiderec.evaluation.experiment import analyse

READERS: dict[str, Callable[[Path], pl.DataFrame]] = {
    ".parquet": pl.read_parquet,
    ".jsonl": pl.read_ndjson,
    ".ndjson": pl.read_ndjson,
    ".csv": pl.read_csv,
}


def read_log(path: Path, what: str) -> pl.DataFrame:
    """A Parquet/JSONL/CSV log with ids as strings and time as `ts_us` (taken from a datetime `ts` if needed)."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"{path}: unsupported {what} file type; expected one of {sorted(READERS)}")
    if not path.is_file():
        raise DatasetError(f"{path}: no such {what} file")
    frame = reader(path)
    if "ts_us" not in frame.columns and "ts" in frame.columns:
        ts = frame["ts"]
        if not isinstance(ts.dtype, pl.Datetime):
            raise DatasetError(f"{path}: column 'ts' must be a datetime (or give 'ts_us' in microseconds)")
        frame = frame.with_columns(pl.col("ts").dt.epoch("us").alias("ts_us"))
    casts = [pl.col(c).cast(pl.String) for c in ("user_id", "item_id", "variant", "event_type") if c in frame.columns]
    out: pl.DataFrame = frame.with_columns(casts)
    return out


@click.group()
def experiment() -> None:
    """Online experiments: variant reports with lifts and intervals."""


@experiment.command()
@click.option("--exposures", type=click.Path(path_type=Path), required=True, help="user_id, item_id, ts_us, variant")
@click.option(
    "--outcomes", type=click.Path(path_type=Path), required=True, help="events: user_id, item_id, ts, event_type"
)
@click.option("--control", required=True, help="The control variant's name.")
@click.option("--window-minutes", type=float, default=60.0, show_default=True, help="Attribution window.")
@click.option("--metric", "metrics", multiple=True, help="Outcome event types to report [default: all present].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", type=click.Path(path_type=Path), help="Write Markdown here (and JSON beside it).")
def report(
    exposures: Path,
    outcomes: Path,
    control: str,
    window_minutes: float,
    metrics: tuple[str, ...],
    seed: int,
    output: Path | None,
) -> None:
    """Per variant and metric: conversion rate of exposures and lift over control, 95% intervals over users."""
    result = analyse(
        read_log(exposures, "exposures"),
        read_log(outcomes, "outcomes"),
        control,
        window_minutes=window_minutes,
        metrics=metrics or None,
        seed=seed,
    )
    text = result.markdown()
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        output.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    click.echo(text)
