from __future__ import annotations

import numpy as np

from tiderec.query.words import OTHER, POS_GROUPS, WIDTH, segmenter, word_flags


def _words(chars: list[str], flags: np.ndarray) -> list[str]:
    """The words the B/I/E/S columns mark, read back from the flags."""
    out, current = [], ""
    for char, row in zip(chars, flags, strict=True):
        place = int(np.argmax(row[:4]))
        current = char if place in (0, 3) else current + char
        if place in (2, 3):
            out.append(current)
    return out


def test_a_brand_jieba_knows_is_one_proper_noun_word() -> None:
    chars = list("正品耐克男鞋")
    flags = word_flags(chars)
    assert flags.shape == (6, WIDTH)
    assert _words(chars, flags) == ["正品", "耐克", "男鞋"]
    proper = 4 + POS_GROUPS["nz"]
    assert flags[2:4, proper].tolist() == [1.0, 1.0]
    assert flags[[0, 1, 4, 5], proper].sum() == 0


def test_every_character_gets_one_place_and_one_group_whatever_the_text() -> None:
    for text in ["霍尼韦尔 Honeywell 空气净化器", "😀华为\u200b手机 ", "a", "一"]:
        chars = list(text)
        flags = word_flags(chars)
        assert flags[:, :4].sum(axis=1).tolist() == [1.0] * len(chars)
        assert flags[:, 4:].sum(axis=1).tolist() == [1.0] * len(chars)
        assert "".join(_words(chars, flags)) == text
    assert word_flags([]).shape == (0, WIDTH)
    assert sorted(set(POS_GROUPS.values())) == list(range(OTHER))


def test_the_segmenter_is_loaded_ready_once() -> None:
    segmenter.cache_clear()
    ready = segmenter()
    assert segmenter() is ready
    assert segmenter.cache_info().misses == 1
    assert [w for w, _ in ready.lcut("华为手机")] == ["华为", "手机"]
