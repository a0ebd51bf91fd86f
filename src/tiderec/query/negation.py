"""Negated wishes in shopper text: "不要红色", "别要金属的", "not leather", "without a hood", "not 红色" -> the phrases
to avoid, with character offsets. A negated list ("不要红色和黑色", "no red or pink") gives one phrase per member;
a negated limit ("不要超过500", "no more than $50") is a price, not a wish."""

from __future__ import annotations

import re
from dataclasses import dataclass

ZH_CUE = r"(?:不想要|不需要|不喜欢|不要|别要|别买|不含|不带|除了|排除|拒绝)"
ZH_CLAUSE = re.compile(rf"{ZH_CUE}(?P<x>[^，,。.!！?？;；:：\s]{{1,16}})")
ZH_LIST = re.compile(r"或者|和|或|、|/|跟")
ZH_TAIL = re.compile(r"(?:的|款|款式|这种|那种|之类|什么的|等|以外|之外|都行|都可以|就行|都好|也行)+$")
ZH_NOT_A_WISH = re.compile(r"^(?:太|超过|高于|低于|多于|少于|贵|便宜|那么|很|买|要)")
EN_CUE = re.compile(r"\b(?:not|no|without|except|avoid|don't want|do not want|nothing|non)\b-?\s*", re.IGNORECASE)
EN_ITEM = re.compile(
    r"(?:(?:an?|the|any|in)\s+)?(?P<x>[a-z][\w'-]*(?:\s+[a-z][\w'-]*)?|[\u4e00-\u9fff]+)", re.IGNORECASE
)
EN_STOP = re.compile(
    r"\s+(?:and|or|nor|but|with|for|in|under|over|below|above|that|which|please|budget|from|on|at|to|is|are)\b.*$",
    re.IGNORECASE,
)
EN_MORE = re.compile(r"\s*(?:/\s*|\s+or\s+|\s+nor\s+)(?:(?:an?|the|any|in)\s+)?", re.IGNORECASE)
NOT_A_WISH = frozenset(
    {"more", "less", "too", "sure", "problem", "idea", "longer", "one", "matter", "need", "more than", "less than"}
    | {"higher", "lower", "over", "under", "above", "below", "than", "way", "much", "expensive", "cheap", "big", "i"}
    | {"worries", "thanks", "bigger", "smaller", "fancy", "pricier", "cheaper", "it", "really", "a", "the", "very"}
)


@dataclass(frozen=True)
class Negation:
    text: str
    start: int
    end: int


def negations(text: str) -> list[Negation]:
    """Every negated phrase, in text order, without duplicates of one span."""
    found = _chinese(text) + _english(text)
    unique = {(n.start, n.end): n for n in found}
    return sorted(unique.values(), key=lambda n: n.start)


def _chinese(text: str) -> list[Negation]:
    found: list[Negation] = []
    for match in ZH_CLAUSE.finditer(text):
        clause, base = match.group("x"), match.start("x")
        if re.match(r"[A-Za-z]", clause) or ZH_NOT_A_WISH.match(clause):
            continue
        at = 0
        for part in [*ZH_LIST.split(clause)]:
            offset = clause.find(part, at)
            at = offset + len(part)
            phrase = ZH_TAIL.sub("", part) if len(ZH_TAIL.sub("", part)) >= 2 else part
            if phrase and not ZH_NOT_A_WISH.match(phrase):
                found.append(Negation(phrase, base + offset, base + offset + len(phrase)))
    return found


def _english(text: str) -> list[Negation]:
    found: list[Negation] = []
    for cue in EN_CUE.finditer(text):
        at = cue.end()
        while True:
            item = EN_ITEM.match(text, at)
            if item is None:
                break
            phrase = EN_STOP.sub("", item.group("x"))
            if phrase.lower() in NOT_A_WISH or phrase.lower().split()[0] in NOT_A_WISH:
                break
            start = item.start("x")
            found.append(Negation(phrase, start, start + len(phrase)))
            more = EN_MORE.match(text, start + len(phrase))
            if more is None:
                break
            at = more.end()
    return found
