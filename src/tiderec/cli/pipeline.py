"""The README's main job: ingest -> clean -> encode -> stats -> train and evaluate models -> dynamics report, on
a shipped dataset or the user's own log, inside a time budget (10 minutes by default) or run to convergence."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from tiderec import config as configs
from tiderec.clean.pipeline import clean
from tiderec.clean.store import write_cleaned
from tiderec.cli.data import FORMATS, as_source, clean_config, echo_cleaned, echo_ingested, read_source, source_options
from tiderec.cli.dynamics import write_report
from tiderec.cli.models import config_option, evaluate_prepared, model_names, prepare_folder, set_option, settings_from
from tiderec.cli.text import echo_encoded, encode_folder
from tiderec.data.stats import describe
from tiderec.dynamics.report import ReportConfig
from tiderec.errors import ConfigError, DatasetError
from tiderec.evaluation.runner import ModelResult, ModelSpec
from tiderec.ingest.store import write_dataset
from tiderec.train.config import TrainConfig
from tiderec.train.registry import MODEL_NAMES, NEURAL_CONFIGS

PROJECT_SHARE = 0.6
"""The interest model's share of the training budget when neural baselines run beside it (they share the rest)."""
RESERVE = 0.15
"""Share of the budget kept for what follows training: each model's test, the co-occurrence weight choice, the
report."""


def duration_seconds(text: str) -> float:
    """'10m', '90s', '1h', '1h30m' or a plain number of minutes -> seconds."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value) * 60
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ConfigError(f"--budget {text!r}: expected a duration such as 10m, 90s, 1h30m (or minutes)")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def budget_minutes(seconds_left: float, name: str, neural_left: list[str]) -> float:
    """Training minutes for model `name`, the neural models still to train being `neural_left` (name first among
    them): the interest model takes PROJECT_SHARE when baselines remain beside it, the baselines split the rest;
    at least 15 seconds each."""
    if name not in neural_left:
        return 0.0
    others = [n for n in neural_left if n != "tiderec"]
    if "tiderec" in neural_left and others:
        share = PROJECT_SHARE if name == "tiderec" else (1 - PROJECT_SHARE) / len(others)
    else:
        share = 1 / len(neural_left)
    return max(seconds_left * share, 15.0) / 60


@click.command()
@click.argument("source", default="online-retail")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Output folder [default: runs/<dataset or file>].")
@click.option("--budget", default="10m", show_default=True, help="Wall time for the whole job, e.g. 10m, 90s, 1h.")
@click.option("--full", is_flag=True, help="No budget: every model trains to early stopping (~1 h on 2 cores).")
@click.option("--preset", "preset_name", default="auto", show_default=True)
@click.option("--encoder", "encoder_name", default="auto", show_default=True)
@click.option("--models", default=",".join(MODEL_NAMES), show_default=True, help="Models to train and compare.")
@config_option
@set_option
@source_options
def pipeline(
    source: str,
    path: Path | None,
    out: Path | None,
    budget: str,
    full: bool,
    preset_name: str,
    encoder_name: str,
    models: str,
    config_path: Path | None,
    overrides: tuple[str, ...],
    **how: Any,
) -> None:
    """The main job on SOURCE (a known dataset, default online-retail, or csv/parquet/jsonl/file PATH with a
    mapping as for `tiderec ingest`): ingest -> clean -> encode item text -> stats -> train the models and compare
    them on a leave-one-out split -> dynamics report, into OUT/{ingested,cleaned,vectors,models,evaluation,report}.
    Training shares what the budget leaves; --full trains every model to early stopping instead."""
    started = time.perf_counter()
    total = None if full else duration_seconds(budget)
    source, path = as_source(source, path)
    if out is None:
        out = Path("runs") / (source if source not in FORMATS or path is None else path.name.split(".")[0])
    names = model_names(models)
    settings = settings_from(config_path, overrides)
    train_config = configs.from_dict(TrainConfig, settings["train"], "train config")
    if total is not None and train_config.max_minutes is not None:
        raise ConfigError("give either --budget or --set train.max_minutes (or --full with a per-model limit)")
    click.echo(f"tiderec pipeline: {source}" + (" (--full: no budget)" if total is None else f", budget {budget}"))
    loaded = read_source(source, path, **how)
    write_dataset(loaded, out / "ingested")
    echo_ingested(loaded, out / "ingested")
    cfg = clean_config(loaded.events, preset_name, None, ())
    result = clean(loaded.events, loaded.items, cfg, loaded.report)
    write_cleaned(result, out / "cleaned")
    echo_cleaned(result, out / "cleaned")
    if result.items.frame["title"].drop_nulls().len():
        report = encode_folder(out / "cleaned", out / "vectors", encoder_name)
        echo_encoded(report, out / "vectors")
    else:
        click.echo("encode: the catalogue has no item text; the models use ids (and attributes) only")
    click.echo("")
    click.echo(describe(result.events).render())
    click.echo(f"\ncleaning report: {out / 'cleaned' / 'cleaning_report.md'}\n")
    prepared = prepare_folder(out / "cleaned", None, "loo", settings)

    neural = [n for n in names if n in NEURAL_CONFIGS]

    def configure(spec: ModelSpec) -> TrainConfig:
        if total is None:
            return train_config
        left = neural[neural.index(spec.name) :] if spec.name in neural else []
        seconds = total * (1 - RESERVE) - (time.perf_counter() - started)
        minutes = budget_minutes(max(seconds, 0.0), spec.name, left)
        if minutes:
            left_min = (total - (time.perf_counter() - started)) / 60
            click.echo(f"{spec.title}: {minutes:.1f} min of training ({left_min:.1f} min of the budget left)")
        return replace(train_config, max_minutes=minutes or None)

    ordered = [n for n in names if n not in neural] + neural
    results = evaluate_prepared(
        prepared, ordered, settings, train_config, out / "evaluation", out / "models", configure
    )
    page: Path | None = out / "report" / "report.html"
    try:
        write_report(out / "cleaned", None, out / "report" / "report.html", ReportConfig())
    except DatasetError as exc:
        click.echo(f"report skipped: {exc}")
        page = None
    _summary(out, results, page, time.perf_counter() - started, total)


def _summary(out: Path, results: list[ModelResult], report: Path | None, seconds: float, total: float | None) -> None:
    """Where each output is, how the interest model compares, and the commands to try next."""
    spent = f"{seconds / 60:.1f} min" + ("" if total is None else f" of a {total / 60:g}-minute budget")
    click.echo(f"\ndone in {spent}:")
    rows = [
        ("cleaned data", out / "cleaned", "cleaning_report.md inside"),
        ("item vectors", out / "vectors", ""),
        ("model table", out / "evaluation" / "results.md", ""),
        ("trained models", out / "models", "one folder per model"),
        ("dynamics report", report, "timelines, changes, trends, forecast"),
    ]
    for label, where, note in rows:
        if where is not None and where.exists():
            click.echo(f"  {label:<16} {where}" + (f"  ({note})" if note else ""))
    ours = next((r for r in results if r.model == "tiderec"), None)
    others = [r for r in results if r.model != "tiderec"]
    if ours is not None and others:
        best = max(others, key=lambda r: r.test["A"]["ndcg@10"])
        mine, theirs = ours.test["A"]["ndcg@10"], best.test["A"]["ndcg@10"]
        ratio = f"{mine / theirs:.2f}x" if theirs else "n/a"
        click.echo(f"  test NDCG@10 (seen kept): tiderec {mine:.4f}, best baseline {best.label} {theirs:.4f} ({ratio})")
    model = out / "models" / "tiderec"
    db = out / "serve" / "tiderec.sqlite"
    click.echo("\nnext:")
    click.echo(f"  .venv/bin/tiderec keys create me --scope read --scope ingest --db {db}")
    serve = f"  .venv/bin/tiderec serve --data {out / 'cleaned'} --db {db}"
    click.echo(serve + (f" --model {model}" if model.exists() else ""))
    click.echo("  open http://127.0.0.1:8000/dashboard/<user id>?key=<the key>   (API: http://127.0.0.1:8000/docs)")
    click.echo('  .venv/bin/tiderec query "我想买一双跑鞋，预算500以内，不要红色"')
    click.echo(f'  .venv/bin/tiderec query "candle holder under 5 pounds, not red" --data {out / "cleaned"}')
    if total is not None:
        click.echo("  .venv/bin/tiderec pipeline --full      # every model trained to convergence (~1 h on 2 cores)")
