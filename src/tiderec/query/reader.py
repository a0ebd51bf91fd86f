"""What a shopper text asks for, whatever its intent: entities (lexicon + Chinese title tagger), a price limit and
negated phrases, read on the normalised text and reported with offsets into the raw text. The one path that
`tiderec query`, the service and the NER evaluation of the whole path all use."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tiderec.query.entities import Entity, Lexicon
from tiderec.query.negation import Negation, negations
from tiderec.query.ner import TYPES, TrainedTagger
from tiderec.query.normalise import Normalised, normalise
from tiderec.query.phrase import english_product
from tiderec.query.price import PriceRange, parse_price
from tiderec.query.tidy import tidy

CJK = re.compile(r"[\u4e00-\u9fff]")
MERGES = ("tagger+lexicon", "tagger", "lexicon-first")
"""How tagger and lexicon entities combine on Chinese text: "tagger+lexicon" keeps every tagger span and adds the
lexicon's where no tagger span overlaps (the lexicon adds or confirms, never cuts); "tagger" keeps the tagger's only;
"lexicon-first" lets lexicon entities block overlapping tagger spans (the behaviour before; kept for comparison).
The default is the one chosen on validation titles (benchmarks/bench_ner_unseen.py)."""
MAX_TAGGED = 128
"""Characters of a text the tagger reads (the rest gets lexicon entities only; the output says so)."""


@dataclass(frozen=True)
class Reading:
    """The normalised text and what was read from it (offsets into the raw text); truncated: the tagger read only
    the first MAX_TAGGED characters; guess: an English product phrase found by position alone (query/phrase.py),
    for the caller to use only where the intent is a purchase."""

    norm: Normalised
    entities: list[Entity]
    price: PriceRange | None
    negations: list[Negation]
    truncated: bool
    guess: Entity | None = None


class ConstraintReader:
    """Lexicon + optional title tagger, combined as `merge` says (one of MERGES)."""

    def __init__(self, lexicon: Lexicon, tagger: TrainedTagger | None = None, merge: str = MERGES[0]) -> None:
        if merge not in MERGES:
            raise ValueError(f"unknown entity merge {merge!r}; valid: {', '.join(MERGES)}")
        self.lexicon, self.tagger, self.merge = lexicon, tagger, merge

    def entities(self, text: str, blocked: list[tuple[int, int]] | None = None) -> list[Entity]:
        """Entities of a normalised text; `blocked` spans (a price, a negated phrase) are blanked first, so no
        entity reaches into them."""
        for a, b in blocked or []:
            text = text[:a] + " " * (b - a) + text[b:]
        found = self.lexicon.find(text)
        if self.tagger is None or not CJK.search(text):
            return found
        (tagged,) = self.tagger.predict([list(text[:MAX_TAGGED])])
        spans = tidy(text, [Entity(text[a:b], TYPES.get(kind, "attribute"), a, b) for a, b, kind in tagged])
        return combine(spans, found, self.merge)

    def read(self, raw: str) -> Reading:
        """Entities, price limit and negations of one raw text."""
        norm = normalise(raw)
        text = norm.text
        price, negated = parse_price(text), negations(text)
        blocked = [(n.start, n.end) for n in negated] + ([] if price is None else [(price.start, price.end)])
        entities = self.entities(text, blocked)
        masked = "".join(" " if any(a <= i < b for a, b in blocked) else c for i, c in enumerate(text))
        guess = english_product(masked, entities)
        truncated = self.tagger is not None and len(text) > MAX_TAGGED and bool(CJK.search(text))
        return Reading(
            norm,
            [_raw_entity(norm, e) for e in entities],
            None if price is None else _raw_price(norm, price),
            [_raw_negation(norm, n) for n in negated],
            truncated,
            None if guess is None else _raw_entity(norm, guess),
        )


def combine(tagged: list[Entity], lexical: list[Entity], merge: str) -> list[Entity]:
    """Tagger and lexicon entities combined as `merge` says (one of MERGES), in text order."""
    if merge == "tagger":
        return sorted(tagged, key=lambda e: e.start)
    first, second = (lexical, tagged) if merge == "lexicon-first" else (tagged, lexical)
    kept = list(first)
    for e in second:
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e.start)


def _raw_entity(norm: Normalised, e: Entity) -> Entity:
    start, end = norm.raw_span(e.start, e.end)
    return Entity(norm.raw[start:end], e.type, start, end)


def _raw_negation(norm: Normalised, n: Negation) -> Negation:
    start, end = norm.raw_span(n.start, n.end)
    return Negation(norm.raw[start:end], start, end)


def _raw_price(norm: Normalised, p: PriceRange) -> PriceRange:
    start, end = norm.raw_span(p.start, p.end)
    return PriceRange(p.min, p.max, start, end, norm.raw[start:end])
