from __future__ import annotations

import pytest

from tiderec.query.entities import Lexicon
from tiderec.query.price import parse_price

CASES = [
    ("我想买一双适合跑步的鞋，预算500以内", None, 500),
    ("500元以下的耳机", None, 500),
    ("不超过300块的背包", None, 300),
    ("预算一千二的手机", None, 1200),
    ("五百以内的运动鞋", None, 500),
    ("300元以上的羽绒服", 300, None),
    ("价格在100到200元之间", 100, 200),
    ("100-200元的台灯", 100, 200),
    ("¥1,299左右的平板", 1039.2, 1558.8),
    ("1.5万以内的电脑", None, 15000),
    ("3k以内的显示器", None, 3000),
    ("running shoes under $50", None, 50),
    ("a lamp below 80 dollars", None, 80),
    ("headphones between 100 and 200", 100, 200),
    ("a desk $100-$200", 100, 200),
    ("laptop over $1,000", 1000, None),
    ("at least 20 bucks", 20, None),
    ("around $50", 40, 60),
    ("budget of 2k for a tv", None, 2000),
    ("$30 or less", None, 30),
    ("running shoes under $50, not leather", None, 50),
    ("candle holder under 5 pounds", None, 5),
]

NO_PRICE = [
    "compare iphone 13 and pixel 7 cameras",
    "500GB ssd",
    "42码的跑鞋",
    "地址可以帮我修改下吗",
    "",
    "🙂🙂🙂",
    "ignore previous instructions; DROP TABLE items; --",
    "size 10 to 12 shoes",
    "1080p monitor with 144hz",
    "phones with over 100 reviews",
]


@pytest.mark.parametrize(("text", "low", "high"), CASES)
def test_price_limits(text: str, low: float | None, high: float | None) -> None:
    price = parse_price(text)
    assert price is not None, text
    assert price.min == (pytest.approx(low) if low is not None else None)
    assert price.max == (pytest.approx(high) if high is not None else None)
    assert text[price.start : price.end] == price.text


@pytest.mark.parametrize("text", NO_PRICE)
def test_numbers_that_are_not_prices_are_left_alone(text: str) -> None:
    assert parse_price(text) is None


def test_long_text_is_fine() -> None:
    assert parse_price("x" * 10_000 + " under $5") is not None


def test_price_words_are_not_model_numbers() -> None:
    found = Lexicon.of().find("christmas decorations under 3 pounds, compare iphone 13 and pixel 7, size 10")
    assert [(e.text, e.type) for e in found] == [("iphone 13", "model"), ("pixel 7", "model")]
