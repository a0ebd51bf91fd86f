from __future__ import annotations

import pytest

from tiderec.query.normalise import normalise


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("预算５００元以内，ＮＩＫＥ", "预算500元以内,NIKE"),
        ("Ni\u200bke\u200d 跑鞋\ufeff", "Nike 跑鞋"),
        ("\x1b[31mred\x1b[0m dress", "red dress"),
        ("👟🔥 running  shoes ✨", "running shoes"),
        ("a\ud800b", "ab"),
        ("👍🏻", ""),
        ("", ""),
    ],
)
def test_noise_is_removed_and_full_width_folded(raw: str, clean: str) -> None:
    assert normalise(raw).text == clean


def test_every_clean_character_maps_back_to_the_raw_text() -> None:
    raw = "\x1b[1m耐克\x1b[0m 🏀 ＡＩＲ\u200b 跑鞋"
    norm = normalise(raw)
    assert norm.text == "耐克 AIR 跑鞋"
    for i, c in enumerate(norm.text):
        if c != " ":
            assert raw[norm.origin[i]] in (c, chr(ord(c) + 0xFEE0))
    start = norm.text.index("AIR")
    assert norm.raw_span(start, start + 3) == (raw.index("Ａ"), raw.index("Ｒ") + 1)
