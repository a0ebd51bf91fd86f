from __future__ import annotations

import pytest

from tiderec.query.negation import negations

CASES = [
    ("我想要一件外套，不要红色", ["红色"]),
    ("不要皮的，要布的", ["皮的"]),
    ("跑鞋，别太贵", []),
    ("不要红色和黑色的", ["红色", "黑色"]),
    ("帮我找一个书包，不要粉色或者紫色的", ["粉色", "紫色"]),
    ("有没有便宜点的电饭煲，不要美的", ["美的"]),
    ("不要超过500", []),
    ("我想买 Nike 跑鞋, not 红色", ["红色"]),
    ("Nike shoes, no red or pink", ["red", "pink"]),
    ("the max 270, not too expensive", []),
    ("a jacket, not leather", ["leather"]),
    ("running shoes without a hood and cheap", ["hood"]),
    ("sofa but no velvet please", ["velvet"]),
    ("I don't want plastic", ["plastic"]),
    ("no more than $50", []),
    ("compare iphone 13 and pixel 7 cameras", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_negations(text: str, expected: list[str]) -> None:
    found = negations(text)
    assert [n.text for n in found] == expected
    for n in found:
        assert text[n.start : n.end] == n.text
