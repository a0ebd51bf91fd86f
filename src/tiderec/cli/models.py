"""Commands of the model stages: train one model, evaluate several side by side, recommend in batch."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from tiderec import config as configs
from tiderec.artefacts import write_json
from tiderec.cli.common import pairs, toml_value
from tiderec.cluster import RayConfig
from tiderec.data.splits import TemporalConfig
from tiderec.errors import ConfigError
from tiderec.evaluation.runner import ModelResult, ModelSpec, markdown, run, score_test
from tiderec.explore.chooser import policy_chooser
from tiderec.explore.registry import STATELESS, make_policy
from tiderec.ranking.batch import recommend_file
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import Prepared, Trained, prepare, save_trained, train_model
from tiderec.train.ray_train import RayTrainConfig
from tiderec.train.registry import MODEL_NAMES, NEURAL_CONFIGS, check_name, load_model, model_config
from tiderec.train.terms import choice_lines

protocol_option = click.option("--protocol", type=click.Choice(["loo", "temporal"]), default="loo", show_default=True)
vectors_option = click.option(
    "--vectors", type=click.Path(path_type=Path), help="Vector store [default: FOLDER/../vectors when present]."
)
config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), help="TOML/JSON with [train], [model]."
)
set_option = click.option(
    "--set", "overrides", multiple=True, help="e.g. train.epochs=30, model.dim=128 (TOML values)."
)


def settings_from(config_path: Path | None, overrides: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """{'train': {...}, 'model': {...}, 'temporal': {...}} from a file and --set train.x=... overrides."""
    data = configs.read_mapping(config_path) if config_path else {}
    out: dict[str, dict[str, Any]] = {k: dict(data.get(k, {})) for k in ("train", "model", "temporal")}
    unknown = set(data) - set(out)
    if unknown:
        raise ConfigError(f"{config_path}: unknown table(s) {sorted(unknown)}; valid: {sorted(out)}")
    for key, value in pairs(overrides, "--set").items():
        section, _, name = key.partition(".")
        if section not in out or not name:
            raise ConfigError(f"--set {key}: expected train.<key>, model.<key> or temporal.<key>")
        out[section][name] = toml_value(value)
    return out


def prepare_folder(folder: Path, vectors: Path | None, protocol: str, settings: dict[str, dict[str, Any]]) -> Prepared:
    temporal = configs.from_dict(TemporalConfig, settings["temporal"], "temporal split")
    prepared = prepare(folder, vectors, "temporal" if protocol == "temporal" else "loo", temporal)
    info = dict(prepared.split.info)
    click.echo(
        f"{prepared.source}: {len(prepared.inter):,} interactions, {prepared.inter.n_users:,} users, "
        f"{prepared.inter.n_items:,} items; {prepared.split.protocol} split {info}"
    )
    if prepared.inputs.vectors is not None:
        click.echo(f"item text vectors: {prepared.inputs.text_space} (coverage {prepared.inputs.text_coverage:.0%})")
    return prepared


def _echo_result(result: ModelResult) -> None:
    for scoring, metrics in result.test.items():
        shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("hr@10", "ndcg@10", "mrr@10") if k in metrics)
        click.echo(f"  test ({scoring}) {result.label}: {shown}")


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--model", "model_name", default="tiderec", show_default=True, help=f"One of {', '.join(MODEL_NAMES)}.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Model folder to write.")
@protocol_option
@vectors_option
@config_option
@set_option
@click.option(
    "--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="Where training runs."
)
@click.option("--workers", type=int, default=2, show_default=True, help="Ray: DDP workers.")
@click.option("--cpus-per-worker", type=int, default=1, show_default=True, help="Ray: CPUs (torch threads) each.")
@click.option("--gpu", is_flag=True, help="Ray: one GPU per worker.")
@click.option("--partitions", type=int, help="Ray: build training windows on the cluster from N user partitions.")
@click.option(
    "--storage", type=click.Path(path_type=Path), help="Ray: run state, checkpoints, windows (shared on a cluster)."
)
@click.option("--ray-address", help="Running Ray cluster [default: RAY_ADDRESS, else a local cluster].")
def train(
    folder: Path,
    model_name: str,
    out: Path,
    protocol: str,
    vectors: Path | None,
    config_path: Path | None,
    overrides: tuple[str, ...],
    engine: str,
    workers: int,
    cpus_per_worker: int,
    gpu: bool,
    partitions: int | None,
    storage: Path | None,
    ray_address: str | None,
) -> None:
    """Train a neural model on a cleaned FOLDER (early stopping on validation), test it once, save it."""
    check_name(model_name)
    if model_name not in NEURAL_CONFIGS:
        raise ConfigError(f"{model_name} is a classic baseline: use `tiderec evaluate` to compare it")
    settings = settings_from(config_path, overrides)
    train_config = configs.from_dict(TrainConfig, settings["train"], "train config")
    model_config(model_name, settings["model"])
    ray = None
    if engine == "ray":
        where = None if storage is None else str(storage.resolve())
        ray = RayTrainConfig(workers, cpus_per_worker, gpu, where, partitions)
    elif ray_address is not None or partitions is not None or storage is not None:
        raise ConfigError("--ray-address, --partitions and --storage need --engine ray")
    prepared = prepare_folder(folder, vectors, protocol, settings)
    cluster = RayConfig(ray_address)
    trained = train_model(prepared, model_name, train_config, settings["model"], ray=ray, ray_config=cluster)
    result = score_test(prepared, trained)
    save_trained(out, prepared, trained, {"test": result.test, "cold": result.cold})
    click.echo(
        f"trained {model_name}: best epoch {trained.result.best_epoch if trained.result else '-'}, "
        f"{trained.result.seconds_per_epoch if trained.result else 0:.1f} s/epoch -> {out}"
    )
    for line in choice_lines(trained.result, trained.train_config):
        click.echo(line)
    _echo_result(result)


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--models", default=",".join(MODEL_NAMES), show_default=True, help="Comma-separated model names.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Folder for results.{md,json}.")
@protocol_option
@vectors_option
@config_option
@set_option
@click.option(
    "--save-models", type=click.Path(path_type=Path), help="Also save each neural model to SAVE_MODELS/<label>."
)
def evaluate(
    folder: Path,
    models: str,
    out: Path,
    protocol: str,
    vectors: Path | None,
    config_path: Path | None,
    overrides: tuple[str, ...],
    save_models: Path | None,
) -> None:
    """Train/fit and test several models side by side on one split; write a Markdown + JSON table."""
    names = model_names(models)
    settings = settings_from(config_path, overrides)
    train_config = configs.from_dict(TrainConfig, settings["train"], "train config")
    prepared = prepare_folder(folder, vectors, protocol, settings)
    evaluate_prepared(prepared, names, settings, train_config, out, save_models)


def model_names(models: str) -> list[str]:
    """Checked model names from a comma-separated list."""
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise ConfigError("--models: no model named; valid models: " + ", ".join(MODEL_NAMES))
    for name in names:
        check_name(name)
    return names


def evaluate_prepared(
    prepared: Prepared,
    names: list[str],
    settings: dict[str, dict[str, Any]],
    train_config: TrainConfig,
    out: Path,
    save_models: Path | None = None,
    configure: Callable[[ModelSpec], TrainConfig] | None = None,
) -> list[ModelResult]:
    """Run the models side by side; rewrite OUT/results.{md,json} after each one so nothing is lost.
    `configure`: each model's training settings, asked just before it trains (else `train_config` for all)."""
    specs = [ModelSpec(n, settings["model"] if n == "tiderec" else {}) for n in names]
    meta = {
        "title": f"Evaluation on {prepared.source}",
        "command": "tiderec " + " ".join(sys.argv[1:]),
        "dataset": prepared.source,
        "protocol": prepared.split.protocol,
        "split": dict(prepared.split.info),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_config": configs.to_dict(train_config),
    }
    out.mkdir(parents=True, exist_ok=True)
    done: list[ModelResult] = []

    def record(trained: Trained, result: ModelResult, config: TrainConfig) -> None:
        done.append(result)
        write_json(out / "results.json", {**meta, "results": [r.to_dict() for r in done]})
        (out / "results.md").write_text(markdown(done, meta), encoding="utf-8")
        _echo_result(result)
        for line in choice_lines(trained.result, trained.train_config):
            click.echo(f"  {line}")
        if save_models is not None and trained.model is not None:
            save_trained(save_models / result.label, prepared, trained, {"test": result.test})

    results = run(prepared, specs, configure or train_config, on_result=record)
    click.echo(f"results -> {out / 'results.md'}")
    return results


@click.command()
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path), help="A trained model folder.")
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path), help="histories.jsonl")
@click.option("--output", "output_path", type=click.Path(path_type=Path), help="recs.jsonl [default: stdout].")
@click.option("-k", "--k", "k", type=int, default=10, show_default=True)
@click.option(
    "--exclude-seen/--keep-seen",
    default=None,
    help="Leave items already in the history out of the results, or keep them (default: the scoring the model was "
    "selected on, as the service does).",
)
@click.option("--skip-bad-rows", is_flag=True, help="Count and skip malformed lines instead of stopping.")
@click.option("--policy", type=click.Choice(sorted(STATELESS)), help="Serve through an exploration policy.")
@click.option("--policy-set", "policy_settings", multiple=True, help="e.g. eps_max=0.2 (TOML values).")
@click.option("--candidates", type=int, default=100, show_default=True, help="Pool the policy chooses from.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed of the per-user list seeds.")
def recommend(
    model_dir: Path,
    input_path: Path,
    output_path: Path | None,
    k: int,
    exclude_seen: bool | None,
    skip_bad_rows: bool,
    policy: str | None,
    policy_settings: tuple[str, ...],
    candidates: int,
    seed: int,
) -> None:
    """Top-k items for each history in a JSON Lines file ({"user_id", "history": [{"item_id", "ts", ...}]});
    with --policy, lists come from an exploration policy and lines carry propensities."""
    if policy_settings and policy is None:
        raise ConfigError("--policy-set needs --policy")
    saved = load_model(model_dir)
    choose = None
    if policy is not None:
        settings = {key: toml_value(value) for key, value in pairs(policy_settings, "--policy-set").items()}
        choose = policy_chooser(make_policy(policy, settings), k, candidates, seed)
    if output_path is None:
        report = recommend_file(saved, input_path, sys.stdout, k, exclude_seen, skip_bad=skip_bad_rows, choose=choose)
    else:
        with output_path.open("w", encoding="utf-8") as handle:
            report = recommend_file(saved, input_path, handle, k, exclude_seen, skip_bad=skip_bad_rows, choose=choose)
    click.echo(json.dumps(report.to_dict()), err=True)
