"""Query text as the readers see it: full-width forms folded (NFKC per character), ANSI escape sequences, zero-width and
control characters, lone surrogates and emoji taken out, with a map back to the raw text's offsets. Why: pasted text
carries all of these, and none of them is an entity, a price or a negation."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
DROP = frozenset({"Cf", "Cs", "Co", "Cn", "Mn"})
"""Categories removed outright: format (zero-width, joiners), surrogates, private use, unassigned, and the combining
marks that dress emoji (variation selectors); none of them carries a word of a shopper query."""
BLANK = frozenset({"Cc", "So", "Sk", "Zl", "Zp", "Zs"})
"""Categories read as a space: control characters, symbols (emoji), modifiers (skin tones) and separators."""


@dataclass(frozen=True)
class Normalised:
    """text: the cleaned text; origin[i]: the raw offset of text[i]; raw: the text as given."""

    text: str
    origin: list[int]
    raw: str

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Raw offsets of the cleaned characters [start, end) (end > start)."""
        return self.origin[start], self.origin[end - 1] + 1


def normalise(raw: str) -> Normalised:
    """The cleaned text of `raw`, one raw offset per cleaned character; runs of spaces become one space."""
    masked = ANSI.sub(lambda m: "\x00" * len(m.group(0)), raw)
    chars: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(masked):
        if c == "\x00":
            continue
        kind = unicodedata.category(c)
        if kind in DROP:
            continue
        folded = " " if kind in BLANK else unicodedata.normalize("NFKC", c)
        for f in folded:
            if f.isspace() and (not chars or chars[-1] == " "):
                continue
            chars.append(" " if f.isspace() else f)
            origin.append(i)
    while chars and chars[-1] == " ":
        chars.pop()
        origin.pop()
    return Normalised("".join(chars), origin, raw)
