"""Model folders: model.safetensors (weights and item buffers) + manifest.json (model name, model and training
config, sizes, text space, dataset) + the item vocabulary. No pickles."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from tiderec.artefacts import read_manifest, write_json, writing
from tiderec.clean.vocab import Vocabulary
from tiderec.models.base import SequenceModel

KIND = "tiderec.model"
ITEM_VOCAB = "items.vocab.parquet"
POPULARITY = "popularity.npy"


@dataclass(frozen=True)
class SavedModel:
    model_name: str
    model: SequenceModel
    manifest: dict[str, Any]
    item_vocab: Vocabulary
    popularity: np.ndarray

    @property
    def exclude_seen(self) -> bool:
        """Whether lists leave out the items a user already has by default: the scoring (B) the model was
        selected on, else (A) keeps them."""
        return str(self.manifest.get("train_config", {}).get("valid_scoring", "A")) == "B"


def save_model(
    out: Path,
    model_name: str,
    model: SequenceModel,
    item_vocab: Vocabulary,
    fields: dict[str, Any],
    popularity: np.ndarray,
) -> None:
    """Write the folder; `popularity` (float32[N], training counts) is the fallback for empty histories."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with writing(out, KIND, {"model": model_name, **fields}) as tmp:
        save_file(state, str(tmp / "model.safetensors"))
        item_vocab.write(tmp / ITEM_VOCAB)
        np.save(tmp / POPULARITY, popularity.astype(np.float32), allow_pickle=False)
        write_json(tmp / "metrics.json", fields.get("metrics", {}))


def weights_version(folder: Path) -> str:
    """sha256 of the folder's weights file, first 16 hex digits."""
    digest = hashlib.sha256()
    with (folder / "model.safetensors").open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def load_state(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], Vocabulary, np.ndarray]:
    manifest = read_manifest(folder, (KIND,))
    vocab = Vocabulary.read(folder / ITEM_VOCAB)
    popularity = np.load(folder / POPULARITY, allow_pickle=False)
    return manifest, load_file(str(folder / "model.safetensors")), vocab, popularity
