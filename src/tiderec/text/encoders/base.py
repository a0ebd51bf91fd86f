"""The text encoder interface: texts -> L2-normalised float32 vectors, item texts as passages, shopper
text as queries (models such as E5 embed the two with different prefixes)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from tqdm import tqdm

from tiderec.config import STRICT
from tiderec.errors import ConfigError
from tiderec.text.template import clean_text

Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class EncoderConfig:
    """Which encoder and how to run it. name='auto' picks by catalogue language (see `choose`).

    threads: CPU threads (default: all cores); batch_size: texts per forward pass for the transformer
    backends; runtime: 'auto' = ONNX Runtime on CPU, torch on CUDA (MiniLM only).
    """

    __pydantic_config__ = STRICT

    name: str = "auto"
    threads: int | None = None
    device: Device = "auto"
    batch_size: int = 64
    runtime: Literal["auto", "torch", "onnx"] = "auto"

    def cpu_threads(self) -> int:
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"encoder threads must be >= 1, got {self.threads}")
        return self.threads or os.cpu_count() or 1


class TextEncoder(ABC):
    """A pretrained language model behind one interface; vectors are float32[n, dim], unit length."""

    name: ClassVar[str]
    dim: ClassVar[int]
    max_tokens: ClassVar[int | None]
    """Longest input the model reads whole; longer texts are truncated (or windowed: see each backend)."""
    chunk_size: ClassVar[int] = 512
    """Texts handed to the backend per call (also the progress bar's step)."""

    @abstractmethod
    def __init__(self, config: EncoderConfig) -> None:
        """Load the model with the given threads/device; heavy imports happen here, never at import."""

    @property
    @abstractmethod
    def version(self) -> str:
        """Model package and version; vectors from different versions are never mixed."""

    @abstractmethod
    def _encode_chunk(self, texts: list[str], query: bool) -> np.ndarray:
        """float32[len(texts), dim], rows L2-normalised."""

    def count_over_length(self, texts: Sequence[str]) -> int:
        """How many texts exceed `max_tokens` (0 when the model has no limit)."""
        return 0

    def encode(self, texts: Sequence[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        """Encode texts (control characters dropped, whitespace collapsed) in chunks, with a progress bar."""
        cleaned = [clean_text(t) for t in texts]
        out = np.empty((len(cleaned), self.dim), dtype=np.float32)
        desc = f"encoding with {self.name}"
        with tqdm(total=len(cleaned), desc=desc, unit="text", disable=None if progress else True, leave=False) as bar:
            for start in range(0, len(cleaned), self.chunk_size):
                chunk = cleaned[start : start + self.chunk_size]
                out[start : start + len(chunk)] = self._encode_chunk(chunk, query)
                bar.update(len(chunk))
        return out

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Item (catalogue) texts."""
        return self.encode(texts, query=False, progress=progress)

    def encode_queries(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Shopper queries, in the same space as `encode_passages`."""
        return self.encode(texts, query=True, progress=progress)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero); float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return out
