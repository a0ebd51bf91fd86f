"""One call from shopper text to what tiderec needs: intent and confidence, entities, price limits, negations
(the `tiderec query` output record), plus the query's items from a catalogue's vector store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tiderec.ingest.datasets import data_root
from tiderec.query.compare import Comparison, comparison
from tiderec.query.entities import Entity, Lexicon
from tiderec.query.intent import BROWSE_CUES, UNCERTAIN, Intent, IntentModel, read_intents
from tiderec.query.negation import Negation
from tiderec.query.ner import TrainedTagger
from tiderec.query.price import PriceRange
from tiderec.query.reader import MAX_TAGGED, MERGES, ConstraintReader, Reading
from tiderec.query.softmax import SoftmaxClassifier, fit_softmax
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig, TextEncoder

INTENT_ENCODER = "use"


@dataclass(frozen=True)
class Understanding:
    text: str
    intent: str
    confidence: float
    entities: list[Entity]
    price: PriceRange | None
    negations: list[Negation]
    comparison: Comparison | None = None
    truncated: bool = False
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `tiderec query` output record (character offsets into `text`); intent_rule names the rule that set the
        intent (its confidence is then the classifier's probability of that intent), truncated says the tagger read
        only a prefix."""
        record: dict[str, Any] = {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "entities": [{"text": e.text, "type": e.type, "start": e.start, "end": e.end} for e in self.entities],
            "price": None if self.price is None else {"min": self.price.min, "max": self.price.max},
            "negations": [{"text": n.text, "start": n.start, "end": n.end} for n in self.negations],
        }
        if self.rule is not None:
            record["intent_rule"] = self.rule
        if self.comparison is not None:
            c = self.comparison
            record["comparison"] = {"subject": c.subject, "objects": c.objects, "aspects": c.aspects}
        if self.truncated:
            record["truncated"] = f"entities from the tagger cover the first {MAX_TAGGED} characters"
        return record


PURCHASE_CUES = re.compile(
    r"(想买|想要|要买|买[个双件台只]|买一[个双件台只]|打算买|准备买|想入|求购|求推荐|推荐一?[款个双件台部只]|帮我找|帮忙找|给我找|有没有|哪里买|在哪买|"
    r"我想要|我要|我需要|想找|找一?[款个双件台部只]|i want to buy|i'?m looking for|looking for|i need|i want|"
    r"want to buy|shopping for|where (?:can|do) i buy|searching for|help me find|find me|show me|"
    r"recommend (?:a|an|some)|any good|多少钱|价格多少)",
    re.IGNORECASE,
)
"""Words that make a text a purchase request whatever the sentence classifier says (its search examples are bare
keyword queries, so "我想买..." sentences look like reviews to it); chosen on the query suite's dev half."""
PURCHASE_INTENTS = frozenset({"search", "browse", "compare"})
"""Intents whose text gets the English product guess (query/phrase.py): a guess by position is only worth making
where the text asks for a product."""
OVERRIDABLE = frozenset({"review", "other", "support", "compare", UNCERTAIN})
COMPARE_CUES = re.compile(
    r"(\bcompare\b|\bvs\.?(?=\s)|\bversus\b|\bor\b|\bbetter\b|\bdifference\b|对比|比较|哪个|哪款|还是|区别)",
    re.IGNORECASE,
)
STRONG_COMPARE = re.compile(r"(\bcompare\b|\bvs\.?(?=\s)|\bversus\b|对比|比较)", re.IGNORECASE)
"""Without one of these a text is not a comparison, whatever the classifier says (it calls many model-number
queries "compare")."""


class QueryUnderstander:
    """Intent model + constraint reader (query/reader.py); texts of any length or content give an answer, never an
    exception. Entities, price limits and negations are read from every text, whatever its intent."""

    def __init__(
        self, intents: IntentModel, lexicon: Lexicon, tagger: TrainedTagger | None = None, merge: str = MERGES[0]
    ) -> None:
        self.intents, self.reader = intents, ConstraintReader(lexicon, tagger, merge)

    def understand(self, texts: list[str]) -> list[Understanding]:
        readings = [self.reader.read(t) for t in texts]
        decided = self.intents.predict([r.norm.text for r in readings])
        return [self._one(r, intent) for r, intent in zip(readings, decided, strict=True)]

    def _one(self, reading: Reading, intent: Intent) -> Understanding:
        text = reading.norm.text
        constrained = reading.price is not None or bool(reading.negations)
        label = decide(intent.label, text, constrained, reading.entities)
        compared = comparison(text) if label == "compare" else None
        entities = reading.entities
        if reading.guess is not None and label in PURCHASE_INTENTS:
            entities = sorted([*entities, reading.guess], key=lambda e: e.start)
        rule = None if label == intent.label else "purchase cue" if PURCHASE_CUES.search(text) else "constraints"
        return Understanding(reading.norm.raw, label, intent.confidence if rule is None else
                             intent.probabilities.get(label, 0.0), entities, reading.price,
                             reading.negations, compared, reading.truncated, rule)  # fmt: skip


def decide(label: str, text: str, constrained: bool, entities: list[Entity]) -> str:
    """The intent after the rules (chosen on the query suite's dev half): explicit comparison words make a compare;
    a compare without them, a purchase cue, a price limit or negation, or (for an uncertain text) a product, brand
    or model make a search; a search or 'other' with browse cues is a browse."""
    wanted = any(e.type != "attribute" for e in entities)
    if label in ("search", "other", UNCERTAIN) and (
        STRONG_COMPARE.search(text) or (COMPARE_CUES.search(text) and len(entities) >= 2)
    ):
        return "compare"
    if label == "compare" and COMPARE_CUES.search(text):
        return label
    if label in OVERRIDABLE and (
        PURCHASE_CUES.search(text) or constrained or label == "compare" or (label == UNCERTAIN and wanted)
    ):
        label = "search"
    if label in ("search", "other", UNCERTAIN) and BROWSE_CUES.search(text):
        label = "browse"
    return label


def intent_model(cache: Path, threads: int | None = None, threshold: float = 0.5) -> IntentModel:
    """The intent model cached in `cache`, trained there first from the shipped labelled intents when missing."""
    encoder = load_encoder(EncoderConfig(name=INTENT_ENCODER, threads=threads))
    if (cache / "classifier.json").is_file():
        return IntentModel(encoder, SoftmaxClassifier.load(cache), threshold)
    rows = read_intents(data_root() / "queries" / "intents.dev.jsonl")
    vectors = encoder.encode_queries([r.text for r in rows], progress=True)
    classifier = fit_softmax(vectors, [r.intent for r in rows])
    classifier.save(cache)
    return IntentModel(encoder, classifier, threshold)


def rank_items(
    query: Understanding,
    encoder: TextEncoder,
    item_vectors: np.ndarray,
    item_texts: list[str],
    prices: np.ndarray | None,
    k: int,
) -> list[tuple[int, float]]:
    """(item row, cosine) of the k items nearest the query, within its price limits and without its negated
    phrases in their text."""
    scores = item_vectors @ encoder.encode_queries([query.text])[0]
    allowed = np.ones(len(scores), dtype=bool)
    if query.price is not None and prices is not None:
        known = ~np.isnan(prices)
        if query.price.min is not None:
            allowed &= ~known | (prices >= query.price.min)
        if query.price.max is not None:
            allowed &= ~known | (prices <= query.price.max)
    for neg in query.negations:
        allowed &= np.array([neg.text.lower() not in t.lower() for t in item_texts])
    scores = np.where(allowed, scores, -np.inf)
    top = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in top if np.isfinite(scores[i])]
