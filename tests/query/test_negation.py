from __future__ import annotations

import pytest

from tiderec.query.negation import negations

CASES = [
    ("我想要一件外套，不要红色", ["红"]),
    ("不要皮的，要布的", ["皮"]),
    ("跑鞋，别太贵", ["太贵"]),
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
