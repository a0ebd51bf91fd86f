"""The product phrase of an English query without a catalogue: the head of its first noun phrase ("candle holder
under 5 pounds" -> "candle holder", "a leather sofa" -> "sofa" after the attribute). Why: English product words
come from the catalogue's own vocabulary, so without one (and for words it lacks) an English query named no product.
"""

from __future__ import annotations

import re

from tiderec.query.entities import Entity

MAX_WORDS = 3
"""A longer run of plain words is a sentence, not a product phrase."""
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
BREAK = re.compile(r"[,;:.!?()\[\]/|]")
STOP_WORDS = (
    "a an the some any my your our his her their this that these those it its i i'm im me we you he she "
    "they want wanted need needs needed looking look find show buy get got getting searching shopping "
    "search help recommend recommendation where can could do does would should please is are was were be "
    "been to under below between over above around about less more than max min up at most least for "
    "with without not no nor or and but in on of from by size sized budget price cost costs cheap "
    "cheaper cheapest expensive good best great nice new love loved like which what who whose how too "
    "very really just only also pack set dollars dollar bucks pounds pound euros euro quid usd gbp rmb "
    "year years old ideas idea something anything vs versus compare better worse "
)
STOP = frozenset(STOP_WORDS.split())


def english_product(text: str, found: list[Entity]) -> Entity | None:
    """The product phrase of a Latin-script text: its first run of up to MAX_WORDS words that are neither STOP words,
    numbers nor covered by another entity (a run ends at punctuation); None when there is none, the run is longer,
    or the text already holds a product."""
    if any(e.type == "product" for e in found) or re.search(r"[\u4e00-\u9fff]", text):
        return None
    covered = [False] * len(text)
    for e in found:
        covered[e.start : e.end] = [True] * (e.end - e.start)
    run: list[re.Match[str]] = []
    at = 0
    for token in TOKEN.finditer(text):
        gap, at = text[at : token.start()], token.end()
        word = token.group(0).lower()
        stop = word in STOP or any(c.isdigit() for c in word) or any(covered[token.start() : token.end()])
        if run and (stop or BREAK.search(gap)):
            break
        if not stop:
            run.append(token)
    if not run or len(run) > MAX_WORDS:
        return None
    start, end = run[0].start(), run[-1].end()
    return Entity(text[start:end], "product", start, end)
