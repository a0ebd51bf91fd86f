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
from tiderec.query.intent import IntentModel, read_intents
from tiderec.query.negation import Negation, negations
from tiderec.query.ner import TYPES, TrainedTagger
from tiderec.query.price import PriceRange, parse_price
from tiderec.query.softmax import SoftmaxClassifier, fit_softmax
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig, TextEncoder

INTENT_ENCODER = "use"
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Understanding:
    text: str
    intent: str
    confidence: float
    entities: list[Entity]
    price: PriceRange | None
    negations: list[Negation]
    comparison: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `tiderec query` output record (character offsets into `text`)."""
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "entities": [{"text": e.text, "type": e.type, "start": e.start, "end": e.end} for e in self.entities],
            "price": None if self.price is None else {"min": self.price.min, "max": self.price.max},
            "negations": [{"text": n.text, "start": n.start, "end": n.end} for n in self.negations],
        } | ({} if self.comparison is None else {"comparison": {"subject": self.comparison.subject,
                                                               "objects": self.comparison.objects,
                                                               "aspects": self.comparison.aspects}})  # fmt: skip


class QueryUnderstander:
    """Intent model + lexicon; texts of any length or content give an answer, never an exception. Interests are
    read from every text not recognised as 'other' or 'support'; an 'uncertain' text that carries a price limit or
    a product, brand or model is taken as a search (the labelled search queries hold no such constraints)."""

    def __init__(self, intents: IntentModel, lexicon: Lexicon, tagger: TrainedTagger | None = None) -> None:
        self.intents, self.lexicon, self.tagger = intents, lexicon, tagger

    def _entities(self, text: str) -> list[Entity]:
        """Lexicon entities, plus the title tagger's on Chinese text where they do not overlap."""
        found = self.lexicon.find(text)
        if self.tagger is None or not CJK.search(text):
            return found
        taken = [False] * len(text)
        for e in found:
            taken[e.start : e.end] = [True] * (e.end - e.start)
        (tagged,) = self.tagger.predict([list(text[:512])])
        for start, end, kind in tagged:
            if not any(taken[start:end]):
                found.append(Entity(text[start:end], TYPES.get(kind, "attribute"), start, end))
        return sorted(found, key=lambda e: e.start)

    def understand(self, texts: list[str]) -> list[Understanding]:
        decided = self.intents.predict(texts)
        out = []
        for text, intent in zip(texts, decided, strict=True):
            if intent.label in ("other", "support"):
                out.append(Understanding(text, intent.label, intent.confidence, [], None, []))
                continue
            entities, price = self._entities(text), parse_price(text)
            if price is not None:
                entities = [e for e in entities if e.end <= price.start or e.start >= price.end]
            label = intent.label
            if label == "uncertain" and (price is not None or any(e.type != "attribute" for e in entities)):
                label = "search"
            compared = comparison(text) if label == "compare" else None
            out.append(Understanding(text, label, intent.confidence, entities, price, negations(text), compared))
        return out


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
