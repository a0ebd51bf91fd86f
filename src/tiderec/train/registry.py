"""Model registry: name -> how to build it (neural, trained by the loop) or fit it (classic baselines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tiderec import config as configs
from tiderec.data.interactions import Interactions
from tiderec.errors import ConfigError
from tiderec.models.base import SequenceModel
from tiderec.models.bsarec import BSARec, BSARecConfig
from tiderec.models.gru4rec import GRU4Rec, GRU4RecConfig
from tiderec.models.interest import InterestConfig, InterestModel
from tiderec.models.itemknn import ItemKNN
from tiderec.models.markov import Markov
from tiderec.models.popularity import Popularity
from tiderec.models.sasrec import SASRec, SASRecConfig
from tiderec.models.scorer import Scorer
from tiderec.models.text_tower import TextTower
from tiderec.train.checkpoint import SavedModel, load_state
from tiderec.train.inputs import ItemInputs

NEURAL_CONFIGS: dict[str, type[Any]] = {
    "tiderec": InterestConfig,
    "sasrec": SASRecConfig,
    "gru4rec": GRU4RecConfig,
    "bsarec": BSARecConfig,
}
NEURAL_CLASSES: dict[str, type[SequenceModel]] = {
    "tiderec": InterestModel,
    "sasrec": SASRec,
    "gru4rec": GRU4Rec,
    "bsarec": BSARec,
}
CLASSIC: dict[str, Callable[[Interactions], Scorer]] = {"pop": Popularity, "markov": Markov, "itemknn": ItemKNN}
MODEL_NAMES: tuple[str, ...] = (*NEURAL_CONFIGS, *CLASSIC)


def check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ConfigError(f"unknown model {name!r}; valid models: {list(MODEL_NAMES)}")


def model_config(name: str, settings: dict[str, Any] | None = None) -> Any:
    """The typed config of a neural model from a dict (unknown keys rejected)."""
    check_name(name)
    if name not in NEURAL_CONFIGS:
        raise ConfigError(f"{name} is a classic baseline without model settings; neural models: {list(NEURAL_CONFIGS)}")
    return configs.from_dict(NEURAL_CONFIGS[name], settings or {}, f"{name} model config")


def build_model(name: str, n_items: int, max_len: int, cfg: Any, inputs: ItemInputs | None = None) -> SequenceModel:
    if name == "sasrec":
        return SASRec(n_items, max_len, **asdict(cfg))
    if name == "gru4rec":
        return GRU4Rec(n_items, **asdict(cfg))
    if name == "bsarec":
        return BSARec(n_items, max_len, cfg)
    if name == "tiderec":
        vectors = None if inputs is None or inputs.vectors is None else torch.from_numpy(inputs.vectors)
        attrs = None if inputs is None or inputs.attributes is None else torch.from_numpy(inputs.attributes)
        tower = text_tower(cfg, inputs) if cfg.use_text and cfg.text_tuning == "lora" else None
        n_attributes = 0 if inputs is None else inputs.n_attributes
        return InterestModel(n_items, max_len, cfg, vectors, attrs, n_attributes, tower)
    check_name(name)
    raise ConfigError(f"{name} is a classic baseline: it is fitted, not built (neural models: {list(NEURAL_CONFIGS)})")


def text_tower(cfg: InterestConfig, inputs: ItemInputs | None) -> TextTower:
    """The LoRA-tuned MiniLM over the items' stored texts (the one fine-tunable encoder; see text.encoders)."""
    from tiderec.text.encoders.minilm import MiniLMEncoder, load_torch_model, tokenize

    space = (inputs.text_space if inputs is not None else None) or {}
    if inputs is None or inputs.texts is None or space.get("encoder") != MiniLMEncoder.name:
        got = space.get("encoder", "no vector store")
        raise ConfigError(
            f"text_tuning='lora' tunes MiniLM over the items' texts: it needs a vector store encoded with "
            f"'{MiniLMEncoder.name}' (got {got}); run `tiderec encode --encoder minilm` or use text_tuning='frozen'"
        )
    ids, mask = tokenize(inputs.texts, cfg.lora_max_tokens)
    encoder = load_torch_model("cpu").float()
    return TextTower(encoder, torch.from_numpy(ids), torch.from_numpy(mask), cfg.lora_rank, cfg.lora_alpha)


def load_model(folder: Path) -> SavedModel:
    """Rebuild a saved neural model (weights, item buffers, vocabulary) from its folder."""
    manifest, state, vocab, popularity = load_state(folder)
    name = manifest["model"]
    cfg = model_config(name, manifest["model_config"])
    inputs = None
    if name == "tiderec":
        cfg = replace(cfg, text_tuning="frozen")  # a tuned model saved its tuned vectors in item_vectors
        if "shift_weight" not in state:
            cfg = replace(cfg, shift=False)  # saved before the shift term existed
        vectors = state.get("item_vectors")
        attrs = state.get("item_attributes")
        n_attr = int(state["attr_emb.weight"].shape[0] - 1) if "attr_emb.weight" in state else 0
        inputs = ItemInputs(
            None if vectors is None else vectors[1:].numpy().astype(np.float32),
            None if attrs is None else attrs[1:].numpy(),
            n_attr,
        )
    model = build_model(name, len(vocab), int(manifest["max_len"]), cfg, inputs)
    model.load_state_dict(state)
    model.eval()
    return SavedModel(name, model, manifest, vocab, popularity)
