"""The annotated query suite: well-formed, split in halves, holding the README's examples; and the README's examples
read through the whole product path (QueryUnderstander: normalising, the intent rules, price, negations, the English
product guess) with the real encoder and an intent classifier trained on a sample of the shipped intents. No tagger
is trained here (a useful one takes most of an hour on CPU): Chinese entities of the README examples need the built
tagger and are scored by benchmarks/bench_query_suite.py (its "README examples" lines); here everything else about
them is asserted, and every entity of the examples with no Chinese text."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO
from tests.query.conftest import SampledIntents
from tiderec.query.entities import Lexicon
from tiderec.query.intent import IntentModel
from tiderec.query.phrase import english_product
from tiderec.query.reader import CJK
from tiderec.query.suite import SuiteCase, mistakes, negation_spans, price_of, read_suite
from tiderec.query.understand import QueryUnderstander

SUITE = REPO / "benchmarks" / "data" / "query_suite.jsonl"


def test_the_suite_is_well_formed_and_split_in_halves() -> None:
    cases = read_suite(SUITE)
    assert len(cases) >= 300
    assert len({c.id for c in cases}) == len(cases)
    halves = [sum(c.split == s for c in cases) for s in ("dev", "test")]
    assert min(halves) >= 140
    assert {c.lang for c in cases} == {"zh", "en", "mixed"}
    for c in cases:
        assert all(0 <= a < b <= len(c.text) for a, b, _ in c.entities), c.id
        assert all(0 <= a < b <= len(c.text) for a, b in c.negations), c.id
    priced = [c.text for c in cases if c.price is not None]
    for cue in ("元", "¥", "$", "k", "万", "以内", "以下", "under", "below", "between"):
        assert any(cue in t for t in priced), cue


def test_every_readme_query_is_in_the_suite() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r'tiderec query "([^"]+)"', readme)
    flagged = {c.text for c in read_suite(SUITE) if c.readme}
    assert shown
    assert set(shown) == flagged


def test_an_english_product_phrase_is_the_first_run_of_plain_words() -> None:
    assert english_product("candle holder under 5 pounds", []) is not None
    found = english_product("a leather sofa, not grey", [])
    assert found is not None
    assert found.text == "leather sofa"
    assert english_product("the headphones broke after two weeks", []) is None
    assert english_product("华为手机", []) is None


@pytest.fixture(scope="module")
def understander(sampled_intents: SampledIntents) -> QueryUnderstander:
    return QueryUnderstander(IntentModel(sampled_intents.encoder, sampled_intents.classifier), Lexicon.of())


def _readme_cases() -> list[SuiteCase]:
    return [c for c in read_suite(SUITE) if c.readme]


@pytest.mark.parametrize("case", _readme_cases(), ids=lambda c: c.id)
def test_the_readme_examples_are_read_right(understander: QueryUnderstander, case: SuiteCase) -> None:
    (result,) = understander.understand([case.text])
    assert result.intent == case.intent
    assert price_of(result) == case.price
    assert negation_spans(result) == sorted(case.negations)
    assert [n.text for n in result.negations] in (["红色"], ["red"])
    if not CJK.search(case.text):
        assert mistakes(case, result) == []
