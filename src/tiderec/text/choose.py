"""The default encoder for a catalogue, from its language and size (measured: benchmarks/results/encoders.md).

English catalogues get MiniLM; catalogues with Chinese text get multilingual-e5-small (the best Chinese
and cross-lingual retriever measured), or USE when the catalogue is too large for e5's CPU speed.
"""

from __future__ import annotations

import polars as pl

from tiderec.types import Items

ZH_SHARE = 0.05
"""A catalogue counts as Chinese/mixed when at least this share of its items is tagged 'zh'."""
E5_MAX_ITEMS = 50_000
"""Above this many items on CPU, e5 (about 36 Chinese titles/s on 2 cores) gives way to USE (about 760/s)."""


def choose_encoder(items: Items) -> tuple[str, str]:
    """(encoder name, the reason in words)."""
    n = len(items)
    tagged = items.frame.filter(pl.col("language") != "und")
    share = tagged.filter(pl.col("language") == "zh").height / tagged.height if tagged.height else 0.0
    if tagged.height == 0:
        return "minilm", "catalogue has no text; MiniLM by default"
    if share < ZH_SHARE:
        return "minilm", f"{share:.0%} of items are Chinese: English catalogue -> MiniLM"
    if n > E5_MAX_ITEMS:
        return "use", f"{share:.0%} Chinese, {n:,} items on CPU: too many for e5 -> USE"
    return "e5", f"{share:.0%} of items are Chinese -> multilingual-e5-small"
