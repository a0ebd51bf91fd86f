"""The annotated query suite: well-formed, split in halves, holding the README's examples; and the README's examples
read right through the whole product path (the intent model `tiderec query` trains from the shipped intents, and a
tagger from the library's builder, with fewer epochs than `tiderec query build` to keep the test short)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tests.conftest import REPO
from tiderec.query.build import TaggerBuild, build_tagger, load_tagger
from tiderec.query.entities import Lexicon
from tiderec.query.phrase import english_product
from tiderec.query.suite import SuiteCase, mistakes, read_suite
from tiderec.query.understand import QueryUnderstander, intent_model

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
def understander(tmp_path_factory: pytest.TempPathFactory) -> QueryUnderstander:
    folder = tmp_path_factory.mktemp("query")
    quick = TaggerBuild()
    build_tagger(folder / "tagger", replace(quick, train=replace(quick.train, epochs=6, patience=6), threads=2), False)
    tagger = load_tagger(folder / "tagger")
    assert tagger is not None
    return QueryUnderstander(intent_model(folder / "intent", threads=2), Lexicon.of(), tagger)


def _readme_cases() -> list[SuiteCase]:
    return [c for c in read_suite(SUITE) if c.readme]


@pytest.mark.slow
@pytest.mark.parametrize("case", _readme_cases(), ids=lambda c: c.id)
def test_the_readme_examples_are_read_right(understander: QueryUnderstander, case: SuiteCase) -> None:
    (result,) = understander.understand([case.text])
    assert mistakes(case, result) == []
    assert result.intent == "search"
    assert [n.text for n in result.negations] in (["红色"], ["red"])
