"""Annotated shopper queries (benchmarks/data/query_suite.jsonl) and how understanding is scored on them: intent
accuracy, price exact (min and max both right, or both absent), negation exact (the same set of spans), entity
precision/recall/F1 per type (exact span and type)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiderec.errors import BadRow, DatasetError
from tiderec.query.ner import Span, prf
from tiderec.query.understand import Understanding

SPLITS = ("dev", "test")


@dataclass(frozen=True)
class SuiteCase:
    """One annotated query; entities and negations as spans into `text`, price (min, max) or None."""

    id: str
    split: str
    lang: str
    text: str
    intent: str
    entities: list[Span]
    price: tuple[float | None, float | None] | None
    negations: list[tuple[int, int]]
    readme: bool


def read_suite(path: Path) -> list[SuiteCase]:
    """The suite's cases; a malformed line is an error naming it."""
    cases: list[SuiteCase] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                obj = json.loads(line)
                price, negated = obj["price"], [(n["start"], n["end"]) for n in obj["negations"]]
                spans = [(e["start"], e["end"], e["type"]) for e in obj["entities"]]
                limits = None if price is None else (price["min"], price["max"])
                case = SuiteCase(obj["id"], obj["split"], obj["lang"], obj["text"], obj["intent"], spans, limits,
                                 negated, bool(obj.get("readme")))  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:
                bad = BadRow(str(path), number, None, "bad suite line", "an annotated query object", str(exc))
                raise DatasetError(bad.describe()) from None
            if case.split not in SPLITS:
                raise DatasetError(
                    BadRow(str(path), number, "split", "unknown split", str(SPLITS), case.split).describe()
                )
            cases.append(case)
    return cases


def price_of(u: Understanding) -> tuple[float | None, float | None] | None:
    return None if u.price is None else (u.price.min, u.price.max)


def entity_spans(u: Understanding) -> list[Span]:
    return [(e.start, e.end, e.type) for e in u.entities]


def negation_spans(u: Understanding) -> list[tuple[int, int]]:
    return sorted((n.start, n.end) for n in u.negations)


def mistakes(case: SuiteCase, u: Understanding) -> list[str]:
    """What the understanding got wrong on this case (empty: all of intent, price, negations and entities right)."""
    wrong = []
    if u.intent != case.intent:
        wrong.append(f"intent {u.intent} (want {case.intent})")
    if price_of(u) != case.price:
        wrong.append(f"price {price_of(u)} (want {case.price})")
    got = sorted((n.start, n.end) for n in u.negations)
    if got != sorted(case.negations):
        wrong.append(
            f"negations {[case.text[a:b] for a, b in got]} (want {[case.text[a:b] for a, b in case.negations]})"
        )
    if sorted(entity_spans(u)) != sorted(case.entities):
        show = [(case.text[a:b], k) for a, b, k in sorted(entity_spans(u))]
        want = [(case.text[a:b], k) for a, b, k in sorted(case.entities)]
        wrong.append(f"entities {show} (want {want})")
    return wrong


def score(cases: list[SuiteCase], results: list[Understanding]) -> dict[str, Any]:
    """Intent accuracy (overall and per language), price and negation exact match, entity P/R/F1 per type."""
    pairs = list(zip(cases, results, strict=True))

    def share(ok: list[bool]) -> float:
        return round(sum(ok) / max(len(ok), 1), 4)

    langs = sorted({c.lang for c in cases})
    entities = prf([c.entities for c in cases], [entity_spans(u) for u in results])
    return {
        "queries": len(cases),
        "intent_accuracy": share([u.intent == c.intent for c, u in pairs]),
        "intent_accuracy_by_language": {
            lang: share([u.intent == c.intent for c, u in pairs if c.lang == lang]) for lang in langs
        },
        "price_exact": share([price_of(u) == c.price for c, u in pairs]),
        "negation_exact": share(
            [sorted((n.start, n.end) for n in u.negations) == sorted(c.negations) for c, u in pairs]
        ),
        "entity_f1": {k: {m: round(v, 4) for m, v in s.items()} for k, s in sorted(entities.items())},
        "all_right": share([not mistakes(c, u) for c, u in pairs]),
    }
