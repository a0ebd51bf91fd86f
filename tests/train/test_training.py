"""The training stack on a small synthetic world: models learn, early stopping keeps the best epoch,
saved models score identically after loading, and scoring (B) removes seen items."""

from __future__ import annotations

import json
import resource
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from tiderec.clean.config import CleanConfig, KCore, Repeats
from tiderec.clean.pipeline import clean
from tiderec.clean.store import write_cleaned
from tiderec.data.interactions import Interactions
from tiderec.data.sequences import IGNORE, SequenceArrays, history_arrays
from tiderec.data.splits import leave_one_out
from tiderec.errors import ConfigError
from tiderec.models.base import SequenceModel
from tiderec.models.interest import InterestModel
from tiderec.models.popularity import Popularity
from tiderec.models.scorer import TorchScorer
from tiderec.testing.worlds import cyclic_world
from tiderec.text.encode import encode_items
from tiderec.text.encoders import EncoderConfig, load_encoder
from tiderec.text.store import write_vectors
from tiderec.train.allocator import reuse_large_blocks
from tiderec.train.average import WeightAverage
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import prepare, save_trained, train_model
from tiderec.train.loop import AVERAGE_TERM, EarlyStopping, Objective, batches, fit, seen_pairs
from tiderec.train.ray_train import RayTrainConfig
from tiderec.train.registry import build_model, load_model, model_config
from tiderec.train.terms import NEIGHBOUR_TERM, SHIFT_WEIGHTS, WEIGHTS, choice_lines
from tiderec.train.validate import evaluate_targets
from tiderec.types import Items

FAST = TrainConfig(epochs=15, batch_size=16, lr=0.01, patience=5, max_len=8, seed=1, threads=2, warmup_steps=5)


@pytest.mark.parametrize("name", ["sasrec", "gru4rec", "tiderec", "bsarec"])
def test_neural_models_learn_the_cycle_and_beat_popularity(cleaned_dir: Path, name: str) -> None:
    prepared = prepare(cleaned_dir)
    trained = train_model(prepared, name, FAST, {"dim": 32} if name != "gru4rec" else {}, progress=False)
    assert trained.result is not None
    assert 1 <= trained.result.best_epoch <= trained.result.epochs_run
    split = prepared.split
    learned = evaluate_targets(trained.scorer, prepared.inter, split.test, FAST.window)["A"]["hr@10"]
    pop = evaluate_targets(Popularity(split.train), prepared.inter, split.test, FAST.window)["A"]["hr@10"]
    assert learned > pop + 0.2, (learned, pop)


def test_a_spent_budget_ends_the_first_epoch_after_its_current_step(cleaned_dir: Path) -> None:
    """The budget is checked after every step, not only between epochs: with a budget shorter than one epoch, the
    first epoch stops early, is validated, and training ends with the time limit as its reason."""
    prepared = prepare(cleaned_dir)
    cfg = replace(FAST, batch_size=2, max_minutes=0.0001)
    trained = train_model(prepared, "bsarec", cfg, {"dim": 16}, progress=False)
    assert trained.result is not None
    full = replace(FAST, batch_size=2, epochs=1)
    whole = train_model(prepared, "bsarec", full, {"dim": 16}, progress=False)
    assert whole.result is not None
    assert trained.result.stopped == "time limit"
    assert trained.result.epochs_run == 1
    assert trained.result.history[0]["steps"] < whole.result.history[0]["steps"]


def test_save_and_load_give_identical_scores(cleaned_dir: Path, tmp_path: Path) -> None:
    prepared = prepare(cleaned_dir)
    trained = train_model(prepared, "tiderec", FAST, {"dim": 16}, progress=False)
    save_trained(tmp_path / "model", prepared, trained, {})
    saved = load_model(tmp_path / "model")
    arrays = history_arrays(prepared.inter, prepared.split.test, FAST.window)
    before = trained.scorer.score(arrays)
    after = TorchScorer("loaded", saved.model).score(arrays)
    np.testing.assert_allclose(before, after, atol=1e-5)
    assert saved.item_vocab.ids.to_list() == prepared.cleaned.item_vocab.ids.to_list()
    assert saved.popularity.sum() == len(prepared.split.train)


def test_sampled_softmax_trains(cleaned_dir: Path) -> None:
    prepared = prepare(cleaned_dir)
    cfg = TrainConfig(**{**FAST.__dict__, "loss": "sampled", "negatives": 16})
    trained = train_model(prepared, "sasrec", cfg, {"dim": 16}, progress=False)
    assert trained.result is not None
    assert np.isfinite(trained.result.history[0]["loss"])


def test_scoring_b_removes_items_the_user_saw() -> None:
    inter = Interactions.from_events(cyclic_world(n_users=10, n_items=5, length=8))
    split = leave_one_out(inter)
    pop = Popularity(split.train)
    result = evaluate_targets(pop, inter, split.test, 8)
    unseen = np.mean([split.test.item[k] not in split.test.history(inter, k) for k in range(len(split.test))])
    assert result["A"]["hr@5"] == 1.0  # five items: every target is in the top 5
    assert result["B"]["hr@5"] == pytest.approx(unseen, abs=1e-4)  # ...unless it was seen and removed
    assert unseen < 1.0


def test_exclude_seen_masks_each_prefix_but_its_own_target() -> None:
    items = torch.tensor([[0, 3, 1, 3, 2], [1, 2, 0, 0, 0]])  # ids + 1, 0 = pad
    select = torch.tensor([[False, True, True, True, False], [True, True, False, False, False]])
    target = torch.tensor([0, 2, 1, 1, 3])
    expected = [[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]]
    mask = torch.zeros(5, 4, dtype=torch.int64).index_put_(seen_pairs(items, select, target), torch.tensor(1))
    assert mask.tolist() == expected
    with pytest.raises(ConfigError, match="exclude_seen needs loss='ce'"):
        TrainConfig(loss="sampled", exclude_seen=True)


class FixedStates(SequenceModel):
    """States given up front (the same for both passes): the contrastive term's arithmetic alone."""

    def __init__(self, states: torch.Tensor) -> None:
        super().__init__()
        self.n_items = 3
        self.fixed = states

    def encode(self, items: torch.Tensor, event_types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        return self.fixed

    def item_table(self) -> torch.Tensor:
        return torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def test_contrastive_term_pulls_each_window_to_its_other_view_and_to_windows_with_its_target() -> None:
    """Windows 1 and 2 share a target and a state: each has two positives at equal logits, so its loss is log 2;
    window 0 is alone and far from the others, so its loss is about 0 (both directions: mean 2/3 log 2)."""
    scale = 10.0
    states = torch.tensor([[[0.0, 0.0], [scale, 0.0]], [[0.0, 0.0], [0.0, scale]], [[0.0, 0.0], [0.0, scale]]])
    items = torch.ones(3, 2, dtype=torch.int64)
    t = {"items": items, "event_types": items, "gaps": items, "next_gaps": items,
         "targets": torch.tensor([[IGNORE, 0], [IGNORE, 1], [IGNORE, 1]])}  # fmt: skip
    objective = Objective(FixedStates(states), TrainConfig(contrastive=0.5))
    value = objective._contrastive(states, t)
    assert value.item() == pytest.approx(2 / 3 * np.log(2), abs=1e-4)
    picked = states[:, 1]  # the selected positions: each window's last
    ce = torch.nn.functional.cross_entropy(picked @ objective.model.item_table().T, torch.tensor([0, 1, 1]))
    assert objective(t).item() == pytest.approx(ce.item() + 0.5 * value.item(), abs=1e-5)


def test_batches_of_similar_length_weigh_each_position_as_a_random_batch_would() -> None:
    """Given the epoch's mean positions per batch, a batch's loss is its summed cross-entropy over that mean: a
    short batch of 3 positions weighs 3/mean of a batch of mean positions, not as much as it."""
    states = torch.tensor([[[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]], [[0.5, 0.0], [0.0, 1.0]]])
    items = torch.ones(3, 2, dtype=torch.int64)
    t = {"items": items, "event_types": items, "gaps": items, "next_gaps": items,
         "targets": torch.tensor([[IGNORE, 0], [IGNORE, 1], [2, 1]])}  # fmt: skip
    model = FixedStates(states)
    logits = torch.cat([states[:, 1], states[2:, 0]]) @ model.item_table().T
    summed = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 1, 2]), reduction="sum")
    weighted = Objective(model, TrainConfig(), positions_per_batch=10.0)(t)
    assert weighted.item() == pytest.approx(summed.item() / 10.0, abs=1e-5)
    assert Objective(model, TrainConfig())(t).item() == pytest.approx(summed.item() / 4, abs=1e-5)


def test_batches_by_length_hold_similar_lengths_and_cut_the_longest_by_positions() -> None:
    """Windows of 1 to 10 events, batches of 8 by length, at most 40 supervised positions a batch: every window is
    in one batch, long batches are cut, short ones are whole, and a batch's lengths are close together."""
    lengths = np.random.default_rng(1).integers(1, 11, size=200)
    windows = SequenceArrays.empty(200, 10)
    for k, n in enumerate(lengths):
        windows.items[k, -n:] = 1
        windows.targets[k, -n:] = 0
    plan = batches(windows, 8, np.random.default_rng(0), bucket=True, max_positions=40)
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(windows)))
    assert all(int(lengths[rows].sum()) <= 40 for rows in plan)
    assert all(len(rows) == 8 for rows in plan if lengths[rows].max() <= 5)
    assert np.mean([np.ptp(lengths[rows]) for rows in plan]) < np.ptp(lengths) / 2


def test_contrastive_settings_are_checked_and_training_with_them_learns_the_cycle(cleaned_dir: Path) -> None:
    with pytest.raises(ConfigError, match="contrastive must be >= 0"):
        TrainConfig(contrastive=-0.1)
    with pytest.raises(ConfigError, match="contrastive_temperature > 0"):
        TrainConfig(contrastive=0.1, contrastive_temperature=0.0)
    prepared = prepare(cleaned_dir)
    trained = train_model(prepared, "tiderec", replace(FAST, contrastive=0.3), {"dim": 32}, progress=False)
    split = prepared.split
    learned = evaluate_targets(trained.scorer, prepared.inter, split.test, FAST.window)["A"]["hr@10"]
    pop = evaluate_targets(Popularity(split.train), prepared.inter, split.test, FAST.window)["A"]["hr@10"]
    assert learned > pop + 0.2, (learned, pop)


def test_training_with_seen_items_excluded_learns_the_cycle(cleaned_dir: Path) -> None:
    prepared = prepare(cleaned_dir)
    cfg = TrainConfig(**{**FAST.__dict__, "exclude_seen": True, "valid_scoring": "B"})
    trained = train_model(prepared, "tiderec", cfg, {"dim": 32}, progress=False)
    split = prepared.split
    learned = evaluate_targets(trained.scorer, prepared.inter, split.test, FAST.window)["B"]["hr@10"]
    pop = evaluate_targets(Popularity(split.train), prepared.inter, split.test, FAST.window)["B"]["hr@10"]
    assert learned > pop + 0.2, (learned, pop)


def test_weight_average_follows_the_exponential_moving_average() -> None:
    model = torch.nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.9)
    start = model.weight.detach().clone()
    for step in range(1, 4):
        with torch.no_grad():
            model.weight.fill_(float(step))
        average.update(model)
    expected = start
    for step in range(1, 4):
        expected = 0.9 * expected + 0.1 * step
    torch.testing.assert_close(average.module.weight, expected)
    assert not average.module.weight.requires_grad
    assert WeightAverage(model, 0.0).module is model


def test_validation_chooses_between_the_averaged_and_the_raw_weights(cleaned_dir: Path) -> None:
    """An average that barely leaves its start validates near chance, so the raw weights are chosen and returned;
    without an average there is nothing to choose."""
    prepared = prepare(cleaned_dir)
    split = prepared.split
    cfg = replace(FAST, epochs=2)
    moved, results = {}, {}
    for decay in (0.0, 0.999999):
        model = build_model("sasrec", prepared.inter.n_items, cfg.window, model_config("sasrec", {"dim": 16}), None)
        start = {k: v.clone() for k, v in model.state_dict().items()}
        results[decay] = fit(model, split.train, prepared.inter, split.valid, replace(cfg, ema=decay), progress=False)
        moved[decay] = max(float((v - start[k]).abs().max()) for k, v in model.state_dict().items())
    averaged = results[0.999999]
    assert averaged.ema_decay == 0.0
    assert averaged.tried[AVERAGE_TERM][0.0] > averaged.tried[AVERAGE_TERM][0.999999] + 0.1, averaged.tried
    assert moved[0.999999] > 0.05, moved
    assert results[0.0].ema_decay is None
    assert AVERAGE_TERM not in results[0.0].tried
    with pytest.raises(ConfigError, match="ema must be a decay"):
        TrainConfig(ema=1.0)


def test_early_stopping_keeps_the_weights_that_validate_best() -> None:
    raw, averaged = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with torch.no_grad():
        averaged.weight.fill_(7.0)
    stopping = EarlyStopping(replace(FAST, valid_scoring="B"))

    def metrics(value: float) -> dict[str, dict[str, float]]:
        return {"B": {"ndcg@10": value}}

    stopping.record(1, 1.0, {0.995: (metrics(0.30), averaged), 0.0: (metrics(0.20), raw)}, 10)  # type: ignore[dict-item]
    stopping.record(2, 1.0, {0.995: (metrics(0.25), averaged), 0.0: (metrics(0.28), raw)}, 20)  # type: ignore[dict-item]
    result = stopping.result()
    assert (result.best_epoch, result.ema_decay) == (1, 0.995)
    assert torch.equal(stopping.best_state["weight"], averaged.weight)
    assert result.tried[AVERAGE_TERM] == {0.995: 0.30, 0.0: 0.28}
    assert stopping.history[1]["by_weights"] == {"0.995": 0.25, "0": 0.28}
    assert stopping.history[1]["ndcg@10"] == 0.28


def test_the_co_occurrence_weight_is_chosen_on_validation_and_saved(cleaned_dir: Path, tmp_path: Path) -> None:
    prepared = prepare(cleaned_dir)
    trained = train_model(prepared, "tiderec", FAST, {"dim": 16, "neighbours": 5}, progress=False)
    assert trained.result is not None
    assert trained.result.neighbour_weight in WEIGHTS
    model = trained.model
    assert isinstance(model, InterestModel)
    assert float(model.get_buffer("neighbour_weight")) == trained.result.neighbour_weight
    assert float(model.get_buffer("neighbour_sims").sum()) > 0
    assert trained.result.shift_weight is None  # the cyclic log has no catalogue, so no interests to shift to
    tried = trained.result.tried[NEIGHBOUR_TERM]
    assert list(tried) == list(WEIGHTS)
    assert tried[trained.result.neighbour_weight] == max(tried.values())
    used = trained.train_config
    assert used.scoring == "B"  # nobody in the cyclic log meets an item twice
    best = trained.result.best_valid[used.scoring][used.valid_metric]
    assert tried[trained.result.neighbour_weight] == best
    lines = choice_lines(trained.result, used)
    assert lines[0].startswith("chosen from the training data: scoring (B), seen items removed: 0.0% of training")
    assert lines[1].startswith(f"chosen on validation (valid {used.valid_metric} (B)): epoch")
    assert lines[2].startswith(f"  {AVERAGE_TERM} {trained.result.ema_decay:g} (0.995")
    assert lines[3].startswith(f"  {NEIGHBOUR_TERM} {trained.result.neighbour_weight:g} (0")
    assert [line.count("*") for line in lines] == [0, 0, 1, 1]
    save_trained(tmp_path / "model", prepared, trained, {})
    saved = json.loads((tmp_path / "model" / "manifest.json").read_text())["chosen_on_validation"]
    assert saved["neighbour_weight"] == trained.result.neighbour_weight
    assert saved["ema_decay"] == trained.result.ema_decay
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["train_config"]["valid_scoring"] == "B"
    assert manifest["chosen_from_data"] == trained.result.settled
    assert load_model(tmp_path / "model").exclude_seen
    assert saved["tried"][NEIGHBOUR_TERM] == {f"{w:g}": round(v, 6) for w, v in tried.items()}
    arrays = history_arrays(prepared.inter, prepared.split.test, FAST.window)
    after = TorchScorer("loaded", load_model(tmp_path / "model").model).score(arrays)
    np.testing.assert_allclose(trained.scorer.score(arrays), after, atol=1e-5)


def test_unknown_model_and_model_keys_are_errors() -> None:
    with pytest.raises(ConfigError, match="valid models"):
        model_config("bert4rec")
    with pytest.raises(ConfigError, match="unknown key 'width'"):
        model_config("sasrec", {"width": 3})


def test_patience_waits_for_the_warm_up(cleaned_dir: Path) -> None:
    prepared = prepare(cleaned_dir)
    slow = TrainConfig(epochs=12, batch_size=4096, lr=1e-6, patience=1, max_len=8, seed=1, threads=2, warmup_steps=8)
    trained = train_model(prepared, "sasrec", slow, {"dim": 16}, progress=False)
    assert trained.result is not None
    assert trained.result.epochs_run >= 9


def test_steps_per_epoch_caps_each_epoch(cleaned_dir: Path) -> None:
    prepared = prepare(cleaned_dir)
    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 3, "steps_per_epoch": 2})
    trained = train_model(prepared, "sasrec", cfg, {"dim": 16}, progress=False)
    assert trained.result is not None
    assert [h["steps"] for h in trained.result.history] == [2, 4, 6]


def test_lora_tunes_minilm_over_item_texts_and_saves_like_a_frozen_model(cleaned_dir: Path, tmp_path: Path) -> None:
    """The real MiniLM, LoRA-tuned on a few steps: the tuned vectors move away from the stored ones, are folded
    into the saved model, and the folder loads and scores like any other."""
    colours = ["red", "blue", "green", "black", "white", "yellow"]
    things = ["mug", "lantern", "candle", "notebook", "bag"]
    titles = [f"{colours[i % 6]} {things[i % 5]} number {i}" for i in range(30)]
    items = Items.from_frame(pl.DataFrame({"item_id": [f"i{i}" for i in range(30)], "title": titles}))
    store, _ = encode_items(items, load_encoder(EncoderConfig(name="minilm", threads=2)), progress=False)
    write_vectors(store, tmp_path / "vectors")
    prepared = prepare(cleaned_dir, vectors=tmp_path / "vectors")
    config = TrainConfig(**{**FAST.__dict__, "epochs": 2, "warmup_steps": 1})
    trained = train_model(prepared, "tiderec", config, {"dim": 16, "text_tuning": "lora"}, progress=False)
    model = trained.model
    assert isinstance(model, InterestModel)
    assert model.text_tower is None
    tuned = model.get_buffer("item_vectors")[1:].detach().numpy()
    assert prepared.inputs.vectors is not None
    cosine = (tuned * prepared.inputs.vectors).sum(axis=1)
    assert cosine.min() < 0.999, cosine.min()
    np.testing.assert_allclose(np.linalg.norm(tuned, axis=1), 1.0, atol=1e-5)
    save_trained(tmp_path / "model", prepared, trained, {})
    saved = load_model(tmp_path / "model")
    arrays = history_arrays(prepared.inter, prepared.split.test, config.window)
    loaded = TorchScorer("loaded", saved.model).score(arrays)
    np.testing.assert_allclose(trained.scorer.score(arrays), loaded, atol=1e-5)


def test_lora_needs_minilm_texts_and_one_process(cleaned_dir: Path) -> None:
    prepared = prepare(cleaned_dir)
    with pytest.raises(ConfigError, match="needs a vector store encoded with 'minilm'"):
        train_model(prepared, "tiderec", FAST, {"text_tuning": "lora"}, progress=False)
    with pytest.raises(ConfigError, match="trains in one process"):
        train_model(prepared, "tiderec", FAST, {"text_tuning": "lora"}, progress=False, ray=RayTrainConfig(2))


def test_cpu_training_keeps_large_freed_blocks_in_the_heap() -> None:
    def page_faults_of_64_mib_tensors(times: int) -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(times):
            block = torch.ones(16 * 2**20)
            del block
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    assert reuse_large_blocks()
    faults = page_faults_of_64_mib_tensors(8)
    assert faults < 0.75 * 8 * 16_384, faults  # 16,384 pages each time when every block is a fresh mapping


def test_the_shift_weight_is_chosen_on_validation_from_the_catalogue_interests(tmp_path: Path) -> None:
    """A catalogue with categories gives each item its interest; the weight is one of SHIFT_WEIGHTS, saved and
    served after loading; the cyclic log (no catalogue) trains without the term."""
    items = Items.from_frame(
        pl.DataFrame(
            {"item_id": [f"i{i}" for i in range(30)], "category": [["all", f"c{i // 5}"] for i in range(30)]},
            schema_overrides={"category": pl.List(pl.String)},
        )
    )
    folder = tmp_path / "cleaned"
    write_cleaned(clean(cyclic_world(), items, CleanConfig(k_core=KCore(1, 1), repeats=Repeats(action="keep"))), folder)
    prepared = prepare(folder)
    trained = train_model(prepared, "tiderec", FAST, {"dim": 16, "neighbours": 0}, progress=False)
    assert trained.result is not None
    assert trained.result.shift_weight in SHIFT_WEIGHTS
    model = trained.model
    assert isinstance(model, InterestModel)
    assert float(model.get_buffer("shift_weight")) == trained.result.shift_weight
    interests = model.get_buffer("item_interest")[1:].numpy()
    wanted = [int(i[1:]) // 5 for i in prepared.cleaned.item_vocab.ids.to_list()]
    assert len(set(zip(interests.tolist(), wanted, strict=True))) == 6
    model.get_buffer("shift_weight").fill_(1.0)
    save_trained(tmp_path / "model", prepared, trained, {})
    arrays = history_arrays(prepared.inter, prepared.split.test, FAST.window)
    after = TorchScorer("loaded", load_model(tmp_path / "model").model).score(arrays)
    np.testing.assert_allclose(trained.scorer.score(arrays), after, atol=1e-5)
