"""Price limits in shopper text, Chinese and English: "500以内", "预算一千二", "under $50", "between 100 and 200",
"¥1,299左右", "1.5k". A number counts as a price only next to a price cue (a limit word, a currency or a money
unit); model numbers, sizes and capacities ("iPhone 13", "500GB", "42码") are left alone, and so is a bare "max N"
without a currency ("Air Max 270", "Pro Max"), and an unreadable
number is left out rather than guessed. "About X" means X +- 20%.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
AROUND = 0.2
LIMIT_TAIL = re.compile(r"\s*(?:以内|以下|之内|以上|左右|上下|之间)")
"""A limit word after a budget ("预算500以内") belongs to the price span, so no entity is read from it."""
CUE = re.compile(r"[$¥￥€£元块刀]|美金|英镑|rmb|usd|dollar|buck|price|budget|预算|价|之间", re.IGNORECASE)
CURRENCY = re.compile(
    r"[$¥￥€£]|rmb|usd|cny|gbp|美元|美金|欧元|英镑|人民币|元|刀|块钱|块|"
    r"dollars?|bucks|euros?|pounds?|quid|\s",
    re.IGNORECASE,
)

_NUM = r"(?:\d\d?\d?(?:,\d\d\d)+(?:\.\d+)?|\d+(?:\.\d+)?|[零一二两三四五六七八九十百千万]+)"
_MULT = r"(?:[kK](?![a-zA-Z])|[wW](?![a-zA-Z])|万|千)?"
_CUR_PRE = r"(?:[$¥￥€£]|rmb\s*|usd\s*|cny\s*|gbp\s*)?"
_CUR_POST = r"(?:\s*(?:美元|美金|欧元|英镑|人民币|元|块钱|块|刀|rmb|usd|gbp|dollars?|bucks|euros?|pounds?|quid|\$))?"
AMOUNT = rf"(?P<{{name}}>{_CUR_PRE}{_NUM}{_MULT}{_CUR_POST})"
NOT_PRICE_AFTER = re.compile(
    r"\s*(?:gb|tb|mb|mah|寸|英寸|码|克|斤|kg|g\b|ml|毫升|件|个|瓦|inch|cm|mm|p\b|hz|w\b|reviews?)", re.IGNORECASE
)

MAX_BEFORE = (
    r"(?:under|below|less than|up to|no more than|not more than|at most|max(?:imum)?|cheaper than|within|"
    r"budget(?: of| is)?|低于|不超过|不高于|少于|小于|预算(?:是|在)?|最多)"
)
MIN_BEFORE = r"(?:over|above|more than|at least|min(?:imum)?|starting (?:at|from)|高于|不低于|至少|超过|大于|最少)"
AROUND_BEFORE = r"(?:around|about|approximately|roughly|~|大概|大约|差不多)"
RANGE_SEP = r"\s*(?:到|至|-|~|～|–|—|to|and)\s*"
RANGE = rf"(?:between\s+|在)?{AMOUNT.format(name='a')}{RANGE_SEP}{AMOUNT.format(name='b')}(?:之间)?"

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("range", re.compile(RANGE, re.IGNORECASE)),
    ("max", re.compile(rf"{MAX_BEFORE}\s*{AMOUNT.format(name='a')}", re.IGNORECASE)),
    ("min", re.compile(rf"{MIN_BEFORE}\s*{AMOUNT.format(name='a')}", re.IGNORECASE)),
    ("around", re.compile(rf"{AROUND_BEFORE}\s*{AMOUNT.format(name='a')}", re.IGNORECASE)),
    (
        "max",
        re.compile(rf"{AMOUNT.format(name='a')}\s*(?:以内|以下|之内|内|or less|or under|or below|max)", re.IGNORECASE),
    ),
    ("min", re.compile(rf"{AMOUNT.format(name='a')}\s*(?:以上|起|or more|or above|plus|\+)", re.IGNORECASE)),
    ("around", re.compile(rf"{AMOUNT.format(name='a')}\s*(?:左右|上下)", re.IGNORECASE)),
]


@dataclass(frozen=True)
class PriceRange:
    """min/max in the text's currency (None: open); start/end: the character span it was read from."""

    min: float | None
    max: float | None
    start: int
    end: int
    text: str


def parse_price(text: str) -> PriceRange | None:
    """The first price limit found in the text, or None; where readings overlap ("预算两百左右": a budget and an
    "about"), a range beats "about", which beats a one-sided limit."""
    found: list[tuple[int, PriceRange]] = []
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text):
            result = _read(kind, match)
            if result is not None:
                found.append((KIND_RANK[kind], result))
    if not found:
        return None
    first = min(found, key=lambda f: (f[1].start, -(f[1].end - f[1].start)))[1]
    overlapping = [f for f in found if f[1].start < first.end and first.start < f[1].end]
    return min(overlapping, key=lambda f: (f[0], f[1].start, -(f[1].end - f[1].start)))[1]


KIND_RANK = {"range": 0, "around": 1, "max": 2, "min": 2}


def _read(kind: str, match: re.Match[str]) -> PriceRange | None:
    a = _amount(match.group("a"))
    b = _amount(match.group("b")) if kind == "range" else None
    if a is None or (kind == "range" and b is None):
        return None
    if NOT_PRICE_AFTER.match(match.string, match.end()):
        return None
    tail = LIMIT_TAIL.match(match.string, match.end())
    end = match.end() if tail is None else tail.end()
    span = (match.start(), end, match.string[match.start() : end])
    if kind == "max" and re.match(r"max(?:imum)?\b", match.group(0), re.IGNORECASE) and not _has_cue(match.group(0)):
        return None
    if kind == "range" and b is not None:
        if not _has_cue(match.group(0)) and not match.group(0).lower().startswith("between"):
            return None
        low, high = sorted((a, b))
        return PriceRange(low, high, *span)
    if kind == "max":
        return PriceRange(None, a, *span)
    if kind == "min":
        return PriceRange(a, None, *span)
    return PriceRange(round(a * (1 - AROUND), 2), round(a * (1 + AROUND), 2), *span)


def _has_cue(text: str) -> bool:
    return bool(CUE.search(text))


def _amount(raw: str | None) -> float | None:
    """A number with optional currency and multiplier ("¥1,299", "1.5k", "五百", "一千二", "3万") or None."""
    if raw is None:
        return None
    text = CURRENCY.sub("", raw)
    mult = 1.0
    if text and text[-1] in "kK千" and not re.fullmatch(r"[零一二两三四五六七八九十百千万]+", text):
        mult, text = 1000.0, text[:-1]
    elif text and text[-1] in "wW万" and not re.fullmatch(r"[零一二两三四五六七八九十百千万]+", text):
        mult, text = 10_000.0, text[:-1]
    if re.fullmatch(r"\d[\d,]*(\.\d+)?", text):
        digits = text.replace(",", "")
        if "," in text and not re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text):
            return None
        value = float(digits) * mult
    else:
        parsed = _chinese_number(text)
        if parsed is None:
            return None
        value = parsed * mult
    return value if 0 < value < 1e9 else None


def _chinese_number(text: str) -> float | None:
    """'五百' 500, '一千二' 1200, '两千五百' 2500, '十' 10, '三万' 30000; None for anything else."""
    if not text or any(c not in CN_DIGITS and c not in CN_UNITS for c in text):
        return None
    total, section, digit, last_unit = 0, 0, 0, 1
    for c in text:
        if c in CN_DIGITS:
            digit = CN_DIGITS[c]
            continue
        unit = CN_UNITS[c]
        if unit == 10_000:
            total += (section + digit) * unit
            section, digit = 0, 0
        else:
            section += (digit or 1) * unit
            digit = 0
        last_unit = unit
    if digit and last_unit >= 100 and len(text) >= 2 and text[-2] in CN_UNITS:
        digit *= last_unit // 10
    return float(total + section + digit)
