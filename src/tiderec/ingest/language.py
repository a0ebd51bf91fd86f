"""Script-based language tags for catalogue text: 'zh' when CJK characters dominate, 'en' for Latin text."""

from __future__ import annotations

import polars as pl

CJK_PATTERN = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
LATIN_PATTERN = r"[A-Za-z]"
ZH_SHARE = 0.3
"""A text is tagged 'zh' when at least this share of its letters (CJK + Latin) are CJK characters."""


def cjk_share(texts: pl.Series) -> pl.Series:
    """Per text, CJK characters / (CJK + Latin letters); null for texts with neither."""
    cjk = texts.str.count_matches(CJK_PATTERN)
    latin = texts.str.count_matches(LATIN_PATTERN)
    total = cjk + latin
    return pl.select(pl.when(total > 0).then(cjk / total).otherwise(None)).to_series()


def detect_language(items: pl.DataFrame) -> pl.Series:
    """'zh' / 'en' / 'und' per item from its title and description (whichever are present)."""
    parts = [pl.col(c).fill_null("") for c in ("title", "description") if c in items.columns]
    if not parts:
        return pl.Series("language", ["und"] * items.height, dtype=pl.String)
    text = items.select(pl.concat_str(parts, separator=" ").alias("t"))["t"]
    share = cjk_share(text)
    out = pl.select(
        pl.when(share.is_null()).then(pl.lit("und")).when(share >= ZH_SHARE).then(pl.lit("zh")).otherwise(pl.lit("en"))
    ).to_series()
    return out.alias("language")
