"""Commands of the data stages: ingest, grow, clean, stats, datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tiderec import config as configs
from tiderec.artefacts import read_manifest
from tiderec.clean.config import CleanConfig
from tiderec.clean.pipeline import CleanResult, clean
from tiderec.clean.presets import PRESETS, preset, preset_for
from tiderec.clean.store import KIND as CLEANED_KIND
from tiderec.clean.store import read_cleaned, write_cleaned
from tiderec.cli.common import pairs, toml_value
from tiderec.data.stats import describe
from tiderec.errors import ConfigError
from tiderec.ingest.datasets import DATASETS, amazon_s3rec, data_root, load_dataset
from tiderec.ingest.grow import GrowConfig, grow
from tiderec.ingest.mapping import EventMapping, ItemMapping, ReadOptions
from tiderec.ingest.store import KIND as INGESTED_KIND
from tiderec.ingest.store import read_dataset, write_dataset
from tiderec.ingest.tabular import Dataset, read_tabular
from tiderec.types import Events

FORMATS = ("csv", "parquet", "jsonl", "file")


def read_options(config: dict[str, Any], **flags: Any) -> ReadOptions:
    merged = dict(config.get("read", {}))
    merged |= {k: v for k, v in flags.items() if v is not None}
    return configs.from_dict(ReadOptions, merged, "read options")


SOURCE_OPTIONS = [
    click.option("--items", "items_path", type=click.Path(path_type=Path), help="Items file (generic formats)."),
    click.option("--mapping", type=click.Path(path_type=Path), help="TOML/JSON with [events], [items], [read]."),
    click.option("--map", "maps", multiple=True, help="Event field=source column, e.g. user_id=uid (repeatable)."),
    click.option("--item-map", "item_maps", multiple=True, help="Item field=source column (repeatable)."),
    click.option("--event-type", "event_type", help="Constant event type when the file has no type column."),
    click.option("--ts-format", help="'auto', 'unix_s', 'unix_ms', 'unix_us' or a strftime pattern."),
    click.option("--timezone", help="IANA zone of naive timestamps (default UTC)."),
    click.option("--delimiter", help="CSV field delimiter."),
    click.option("--no-header", is_flag=True, default=None, help="The CSV file has no header line."),
    click.option("--columns", help="Comma-separated column names for a headerless CSV."),
    click.option("--multiline", is_flag=True, default=None, help="Quoted CSV values may span lines."),
    click.option(
        "--skip-bad-rows", is_flag=True, default=None, help="Count and skip malformed rows instead of stopping."
    ),
]
"""The options that say how to read a SOURCE (`tiderec ingest` and `tiderec pipeline` share them)."""


def source_options(command: Any) -> Any:
    """Decorate a command with SOURCE_OPTIONS."""
    for option in reversed(SOURCE_OPTIONS):
        command = option(command)
    return command


def as_source(source: str, path: Path | None) -> tuple[str, Path | None]:
    """SOURCE and PATH as given, or ("file", SOURCE) when SOURCE names an existing file and no PATH follows."""
    if source not in DATASETS and source not in FORMATS and path is None and Path(source).is_file():
        return "file", Path(source)
    return source, path


def read_source(
    source: str,
    path: Path | None,
    items_path: Path | None = None,
    mapping: Path | None = None,
    maps: tuple[str, ...] = (),
    item_maps: tuple[str, ...] = (),
    event_type: str | None = None,
    ts_format: str | None = None,
    timezone: str | None = None,
    delimiter: str | None = None,
    no_header: bool | None = None,
    columns: str | None = None,
    multiline: bool | None = None,
    skip_bad_rows: bool | None = None,
) -> Dataset:
    """A known dataset (PATH defaults to its file under the data root), or csv / parquet / jsonl / file at PATH
    read with a column mapping (a TOML/JSON file and/or --map flags, the flags winning); a `file` whose lines are
    `uid iid iid ...` (the S3-Rec form, `<name>_item2attributes.json` beside it read when present) needs none."""
    source, path = as_source(source, path)
    config = configs.read_mapping(mapping) if mapping else {}
    options = read_options(
        config,
        delimiter=delimiter,
        has_header=None if no_header is None else not no_header,
        column_names=tuple(c.strip() for c in columns.split(",")) if columns else None,
        multiline=multiline,
        skip_bad_rows=skip_bad_rows,
        format=source if source in ("csv", "parquet", "jsonl") else None,
    )
    if source in DATASETS:
        if maps or item_maps or mapping or items_path:
            raise ConfigError(f"{source} is a known dataset: column mappings apply only to csv/parquet/jsonl/file")
        return load_dataset(source, path, options)
    if source == "file" and path is not None and not (maps or item_maps or mapping) and amazon_s3rec.looks_like(path):
        return amazon_s3rec.load(path, options)  # `uid iid iid ...` per line: needs no mapping
    if source not in FORMATS and ("/" in source or "." in source):
        raise ConfigError(f"{source}: no such file (SOURCE is a known dataset, a format or an existing file)")
    if source not in FORMATS:
        raise ConfigError(f"unknown source {source!r}; known datasets: {sorted(DATASETS)}, formats: {list(FORMATS)}")
    if path is None:
        raise ConfigError(f"{source}: give the events file PATH")
    event_fields: dict[str, Any] = dict(config.get("events", {})) | pairs(maps, "--map")
    for key, value in (("event_type_constant", event_type), ("ts_format", ts_format), ("timezone", timezone)):
        if value is not None:
            event_fields[key] = value
    event_mapping = configs.from_dict(EventMapping, event_fields, "event mapping")
    item_fields = dict(config.get("items", {})) | pairs(item_maps, "--item-map")
    item_mapping = configs.from_dict(ItemMapping, item_fields, "item mapping") if item_fields else None
    return read_tabular(path, event_mapping, items_path, item_mapping, options)


@click.command()
@click.argument("source")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Output folder.")
@source_options
def ingest(source: str, path: Path | None, out: Path, **how: Any) -> None:
    """Read SOURCE into typed events and items.

    SOURCE is a known dataset (see `tiderec datasets`; PATH defaults to its file under the data root) or
    csv / parquet / jsonl / file (format from the name) with PATH and a column mapping.
    """
    dataset = read_source(source, path, **how)
    write_dataset(dataset, out)
    echo_ingested(dataset, out)


def echo_ingested(dataset: Dataset, out: Path) -> None:
    report = dataset.report
    frame = dataset.events.frame
    click.echo(
        f"ingested {len(dataset.events):,} events ({frame['user_id'].drop_nulls().n_unique():,} users, "
        f"{frame['item_id'].drop_nulls().n_unique():,} items), catalogue {len(dataset.items):,} items -> {out}"
    )
    click.echo(f"rows read {report.rows_read:,}, kept {report.rows_kept:,}, rejected {report.rows_rejected:,}")
    for rejection in report.rejections:
        example = f" e.g. {rejection.examples[0].describe()}" if rejection.examples else ""
        click.echo(f"  {rejection.reason}: {rejection.count:,}{example}")
    for note in report.notes:
        click.echo(f"note: {note}")


@click.command(name="grow")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--factor", "-k", required=True, type=int, help="Copies of the world in the output (1 = unchanged).")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the title recombination.")
def grow_command(folder: Path, factor: int, out: Path, seed: int) -> None:
    """Grow an ingested FOLDER FACTOR times, to measure how cost scales with data size.

    Copy r of every user, item, session and basket id X is X~r; titles are recombined from real ones.
    """
    config = GrowConfig(factor=factor, seed=seed)
    dataset = read_dataset(folder)
    grown = grow(dataset, config)
    write_dataset(grown, out)
    click.echo(
        f"grew {folder} {factor}x: users {_users(dataset.events):,} -> {_users(grown.events):,}, "
        f"items {len(dataset.items):,} -> {len(grown.items):,}, "
        f"events {len(dataset.events):,} -> {len(grown.events):,} -> {out}"
    )


def _users(events: Events) -> int:
    return events.frame["user_id"].drop_nulls().n_unique()


@click.command(name="clean")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--preset", "preset_name", default="auto", show_default=True, help="A named config, or 'auto'.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML/JSON cleaning config.")
@click.option("--set", "overrides", multiple=True, help="Override one key, e.g. k_core.min_user=3 (TOML value).")
def clean_command(
    folder: Path, out: Path, preset_name: str, config_path: Path | None, overrides: tuple[str, ...]
) -> None:
    """Clean an ingested FOLDER: rules in order, report, vocabularies.

    'auto' picks the preset named after the dataset (see `tiderec datasets`), else 'default'.
    """
    dataset = read_dataset(folder)
    cfg = clean_config(dataset.events, preset_name, config_path, overrides)
    result = clean(dataset.events, dataset.items, cfg, dataset.report)
    write_cleaned(result, out)
    echo_cleaned(result, out)


def clean_config(events: Events, preset_name: str, config_path: Path | None, overrides: tuple[str, ...]) -> CleanConfig:
    if config_path is not None:
        cfg = configs.load(CleanConfig, config_path)
    elif preset_name == "auto":
        cfg = preset_for(events.meta.get("source"))
    else:
        cfg = preset(preset_name)
    changes = {k: toml_value(v) for k, v in pairs(overrides, "--set").items()}
    return configs.with_changes(cfg, changes) if changes else cfg


def echo_cleaned(result: CleanResult, out: Path) -> None:
    r = result.report
    click.echo(
        f"cleaned {r.rows_in:,} -> {r.rows_out:,} events; users {r.users_in:,} -> {r.users_out:,}; "
        f"items {r.items_in:,} -> {r.items_out:,}; sessions {r.sessions:,} -> {out}"
    )
    width = max(len(rule.rule) for rule in r.rules)
    for rule in r.rules:
        apart = f" (kept apart: {rule.kept_apart:,})" if rule.kept_apart else ""
        click.echo(f"  {rule.rule:<{width}}  -{rule.rows_removed:>9,}  left {rule.rows_after:>10,}{apart}")


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def stats(folder: Path, as_json: bool) -> None:
    """Counts, time span, sparsity, events per user/item and event-type mix of an artefact FOLDER."""
    manifest = read_manifest(folder, (INGESTED_KIND, CLEANED_KIND))
    if manifest["kind"] == INGESTED_KIND:
        events = read_dataset(folder).events
        report: dict[str, Any] | None = None
    else:
        result = read_cleaned(folder)
        events = result.events
        report = result.report.to_dict()
    summary = describe(events)
    if as_json:
        click.echo(json.dumps({"stats": summary.to_dict(), "cleaning": report}, indent=2, default=str))
        return
    click.echo(f"{manifest['kind']} folder {folder}")
    click.echo(summary.render())
    if manifest["kind"] == CLEANED_KIND:
        click.echo(f"negatives     {manifest.get('negatives', 0):,} events kept apart (negatives.parquet)")


@click.command()
def datasets() -> None:
    """List the known datasets (with their default files) and the cleaning presets."""
    root = data_root()
    for name, adapter in DATASETS.items():
        where = root / adapter.default_file
        mark = "" if where.exists() else "  (not found)"
        click.echo(f"{name:<24} {adapter.summary}\n{'':<24} {where}{mark}")
    click.echo(f"cleaning presets: {', '.join(PRESETS)}")
