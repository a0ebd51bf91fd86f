"""Comparison questions in English: which products are compared (the first mention is the subject, the others
the objects) and on what aspect ("Which phone has better haptic feedback: Pixel 6 or Galaxy S21?")."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = r"(?:[A-Z][\w+-]*|i[A-Z][\w+-]*|\d[\w+-]*)"
MENTION = re.compile(rf"(?:\b(?:the|an?)\s+)?({_WORD}(?:['’]s)?(?:\s+(?:{_WORD}|Pro|Max|Plus|Ultra|Mini|Lite))*)")
NOT_PRODUCT = frozenset(
    {"Which", "Is", "Does", "Do", "Can", "What", "What's", "Why", "Should", "Has", "Have", "Between", "How", "Are",
     "Would", "Will", "I", "Only", "Any", "Anyone", "Android", "Who", "Where", "When", "If", "In", "For", "Compare"}
)  # fmt: skip
_LOOKAHEAD = r"(?=[,:?]|\s+(?:than|on|in|of|:|the|between|for)\b)"
ASPECT = [
    re.compile(
        r"in terms of (?:the\s+)?([a-z][a-z -]+?)(?:\s+and\s+([a-z][a-z -]+?))?"
        r"(?=[,:?.]|\s+(?:the|on|than|during|between)\b|$)"
    ),
    re.compile(
        r"\b(?:better|best|worse|worst|stronger|faster|cheaper|nicer|longer)\s+([a-z][a-z-]+(?:\s+[a-z][a-z-]+)?)"
        + _LOOKAHEAD
    ),
    re.compile(r"\b(?:the\s+)?([a-z][a-z-]+(?:\s+[a-z][a-z-]+)?)\s+(?:on|of)\s+the\s+[A-Z]"),
]
ASPECT_STOP = frozenset(
    {"choice", "one", "phone", "option", "deal", "value", "is", "than", "and", "or", "use", "performance and"}
)


@dataclass(frozen=True)
class Comparison:
    subject: str | None
    objects: list[str]
    aspects: list[str]


def comparison(text: str) -> Comparison:
    """The compared products and aspects of one question (empty when none are found)."""
    mentions = []
    for match in MENTION.finditer(text):
        words = match.group(1).split()
        while words and words[0] in NOT_PRODUCT:
            words = words[1:]
        name = " ".join(words).removesuffix("'s").removesuffix("’s")
        if name and name not in mentions and not name.isdigit():
            mentions.append(name)
    aspects: list[str] = []
    for pattern in ASPECT:
        for match in pattern.finditer(text):
            for group in match.groups():
                if group and group.strip() not in ASPECT_STOP and group.strip() not in aspects:
                    aspects.append(group.strip())
        if aspects:
            break
    return Comparison(mentions[0] if mentions else None, mentions[1:], aspects)
