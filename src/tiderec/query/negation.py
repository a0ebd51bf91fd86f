"""Negated wishes in shopper text: "不要红色", "别太贵的", "not leather", "without a hood" -> the phrases to
avoid, with character offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

ZH = re.compile(
    r"(?:不要|不想要|别要|别买|别|不含|除了|非)(?P<x>[^，,。.!！?？、;；\s和或]{1,8}?)(?:的|色的|$|[，,。.!！?？、;；\s和或])"
)
EN = re.compile(
    r"\b(?:not|no|without|except|avoid|don't want|do not want|non-)\s*"
    r"(?P<x>(?:an?\s+|the\s+)?[a-z][\w-]*(?:\s+[a-z][\w-]*)?)",
    re.IGNORECASE,
)
STOP_AFTER = re.compile(r"\s+(?:and|or|but|with|for|in|under|over|that|which|please)\b.*$", re.IGNORECASE)
NOT_A_WISH = {"more", "more than", "less", "less than", "too", "sure", "problem", "idea", "longer", "one", "matter"}


@dataclass(frozen=True)
class Negation:
    text: str
    start: int
    end: int


def negations(text: str) -> list[Negation]:
    """Every negated phrase, in text order."""
    found: list[Negation] = []
    for match in ZH.finditer(text):
        phrase = match.group("x").removesuffix("色") if match.group("x").endswith("色") else match.group("x")
        found.append(Negation(phrase, match.start("x"), match.start("x") + len(phrase)))
    for match in EN.finditer(text):
        phrase = STOP_AFTER.sub("", match.group("x"))
        phrase = re.sub(r"^(?:an?|the)\s+", "", phrase, flags=re.IGNORECASE)
        if phrase.lower() in NOT_A_WISH or phrase.lower().split()[0] in NOT_A_WISH:
            continue
        start = match.start("x") + match.group("x").find(phrase)
        found.append(Negation(phrase, start, start + len(phrase)))
    return sorted(found, key=lambda n: n.start)
