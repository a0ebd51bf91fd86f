"""The README's main job: ingest -> clean -> encode -> stats -> train and evaluate models, on a shipped dataset."""

from __future__ import annotations

from pathlib import Path

import click

from tiderec import config as configs
from tiderec.clean.pipeline import clean
from tiderec.clean.store import write_cleaned
from tiderec.cli.data import clean_config, echo_cleaned, echo_ingested
from tiderec.cli.models import config_option, evaluate_prepared, model_names, prepare_folder, set_option, settings_from
from tiderec.cli.text import echo_encoded, encode_folder
from tiderec.data.stats import describe
from tiderec.ingest.datasets import load_dataset
from tiderec.ingest.mapping import ReadOptions
from tiderec.ingest.store import write_dataset
from tiderec.train.config import TrainConfig
from tiderec.train.registry import MODEL_NAMES


@click.command()
@click.argument("dataset", default="online-retail")
@click.option("--path", type=click.Path(path_type=Path), help="Dataset file (default: under the data root).")
@click.option("--out", "-o", default=Path("runs/online-retail"), type=click.Path(path_type=Path), show_default=True)
@click.option("--preset", "preset_name", default="auto", show_default=True)
@click.option("--encoder", "encoder_name", default="auto", show_default=True)
@click.option("--models", default=",".join(MODEL_NAMES), show_default=True, help="Models to train and compare.")
@config_option
@set_option
def pipeline(
    dataset: str,
    path: Path | None,
    out: Path,
    preset_name: str,
    encoder_name: str,
    models: str,
    config_path: Path | None,
    overrides: tuple[str, ...],
) -> None:
    """The main job on a known DATASET: ingest -> clean -> encode item text -> stats -> train the models and
    compare them on a leave-one-out split, into OUT/{ingested,cleaned,vectors,evaluation,models}."""
    names = model_names(models)
    settings = settings_from(config_path, overrides)
    train_config = configs.from_dict(TrainConfig, settings["train"], "train config")
    loaded = load_dataset(dataset, path, ReadOptions())
    write_dataset(loaded, out / "ingested")
    echo_ingested(loaded, out / "ingested")
    cfg = clean_config(loaded.events, preset_name, None, ())
    result = clean(loaded.events, loaded.items, cfg, loaded.report)
    write_cleaned(result, out / "cleaned")
    echo_cleaned(result, out / "cleaned")
    report = encode_folder(out / "cleaned", out / "vectors", encoder_name)
    echo_encoded(report, out / "vectors")
    click.echo("")
    click.echo(describe(result.events).render())
    click.echo(f"\nreport: {out / 'cleaned' / 'cleaning_report.md'}\n")
    prepared = prepare_folder(out / "cleaned", None, "loo", settings)
    evaluate_prepared(prepared, names, settings, train_config, out / "evaluation", out / "models")
