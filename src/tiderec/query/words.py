"""Chinese word segmentation as tagger features (jieba: a 349,046-word dictionary with part-of-speech tags, an HMM for
words it lacks): per character, B/I/E/S of the word it falls in and that word's part-of-speech group. Why: brands
that neither the training titles nor the brand word lists hold are often proper nouns jieba knows (耐克 nz, 霍尼韦尔
nrt, 飞利浦 nz), and product words end where words end (漏电 | 保护器)."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import numpy as np

POS_GROUPS: dict[str, int] = {
    "nr": 0, "nrt": 0, "nrfg": 0,  # person names and transliterations
    "nz": 1,  # other proper nouns
    "ns": 2,  # places
    "nt": 3,  # organisations
    "n": 4, "ng": 4, "vn": 4,  # common nouns
    "v": 5,
    "a": 6,
    "m": 7, "q": 7,  # numbers and measure words
    "eng": 8,  # Latin-script words
    "x": 9,  # punctuation and spaces
}  # fmt: skip
"""jieba part-of-speech tag -> column group; any other tag is group OTHER."""
OTHER = 10
WIDTH = 4 + OTHER + 1
"""Columns of word_flags: 0-3 B/I/E/S of the word, then one column per part-of-speech group."""


@cache
def segmenter() -> Any:
    """jieba's part-of-speech segmenter, loaded once and ready: its dictionary and HMM load on the first text (about
    0.8 s), so a text is segmented here and a service's first query does not pay for it."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.posseg.lcut("预热")
    return jieba.posseg


def word_flags(chars: list[str]) -> np.ndarray:
    """float32[T, WIDTH]: for each character, B/I/E/S of its jieba word and that word's part-of-speech group. A
    character jieba's words do not line up with (it never drops or adds text, so only a bug would) stays all zero."""
    out = np.zeros((len(chars), WIDTH), dtype=np.float32)
    if not chars:
        return out
    i = 0
    for word, tag in segmenter().lcut("".join(chars)):
        n = len(word)
        if "".join(chars[i : i + n]) != word:
            break
        group = 4 + POS_GROUPS.get(tag, OTHER)
        for j in range(n):
            out[i + j, 3 if n == 1 else 0 if j == 0 else 2 if j == n - 1 else 1] = 1.0
            out[i + j, group] = 1.0
        i += n
    return out
