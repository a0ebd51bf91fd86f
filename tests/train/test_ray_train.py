"""Ray Train (DDP, 2 workers on the session's local cluster) against the local loop, on a small synthetic
world: the distributed model learns what the local one learns and is saved in the same folder format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tiderec.cli.main import cli
from tiderec.data.interactions import Interactions
from tiderec.data.splits import leave_one_out
from tiderec.errors import DatasetError
from tiderec.models.popularity import Popularity
from tiderec.testing.worlds import cyclic_world
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import prepare, train_model
from tiderec.train.inputs import ItemInputs
from tiderec.train.ray_train import RayTrainConfig, fit_ray
from tiderec.train.registry import load_model
from tiderec.train.validate import evaluate_targets

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]

FAST = TrainConfig(epochs=12, batch_size=16, lr=0.01, patience=5, max_len=8, seed=1, threads=1, warmup_steps=5)
TWO = RayTrainConfig(workers=2, cpus_per_worker=1)


def test_two_ddp_workers_learn_the_cycle_like_the_local_loop(cleaned_dir: Path) -> None:
    prepared = prepare(cleaned_dir)
    split = prepared.split
    local = train_model(prepared, "sasrec", FAST, {"dim": 32}, progress=False)
    distributed = train_model(prepared, "sasrec", FAST, {"dim": 32}, progress=False, ray=TWO)
    assert distributed.result is not None
    assert local.result is not None
    assert 1 <= distributed.result.best_epoch <= distributed.result.epochs_run <= FAST.epochs
    assert distributed.result.best_valid[distributed.train_config.scoring]["targets"] == len(split.valid)
    scores = {
        name: evaluate_targets(scorer, prepared.inter, split.test, FAST.window)["A"]["hr@10"]
        for name, scorer in (("local", local.scorer), ("ray", distributed.scorer), ("pop", Popularity(split.train)))
    }
    assert scores["ray"] > scores["pop"] + 0.2, scores
    assert abs(scores["ray"] - scores["local"]) < 0.15, scores


def test_cli_trains_on_ray_and_writes_the_local_folder_format(cleaned_dir: Path, tmp_path: Path) -> None:
    args = ["train", str(cleaned_dir), "--model", "tiderec", "--set", "train.epochs=2", "--set", "model.dim=16"]
    args += ["--set", "train.max_len=8", "--set", "train.batch_size=16"]
    local = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    ray_args = ["--engine", "ray", "--workers", "2", "--partitions", "2"]
    ray = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "ray"), *ray_args])
    assert ray.exit_code == 0, ray.output
    assert "test (A) tiderec" in ray.output
    a, b = load_model(tmp_path / "local"), load_model(tmp_path / "ray")
    assert set(a.manifest) == set(b.manifest)
    assert a.model.state_dict().keys() == b.model.state_dict().keys()
    assert a.item_vocab.ids.to_list() == b.item_vocab.ids.to_list()
    assert b.manifest["epochs_run"] == 2
    assert not np.allclose(a.model.state_dict()["item_emb.weight"], b.model.state_dict()["item_emb.weight"])


def test_more_workers_than_windows_is_refused() -> None:
    inter = Interactions.from_events(cyclic_world(n_users=1, n_items=3, length=3))
    split = leave_one_out(inter)
    with pytest.raises(DatasetError, match="cannot feed 4 workers"):
        fit_ray("sasrec", split.train, inter, split.valid, ItemInputs(None, None, 0), FAST, {}, RayTrainConfig(4))


def test_steps_per_epoch_caps_every_workers_epoch(cleaned_dir: Path) -> None:
    prepared = prepare(cleaned_dir)
    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 3, "steps_per_epoch": 2})
    trained = train_model(prepared, "sasrec", cfg, {"dim": 16}, progress=False, ray=TWO)
    assert trained.result is not None
    assert [h["steps"] for h in trained.result.history] == [2, 4, 6]
