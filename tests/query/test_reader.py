from __future__ import annotations

import pytest

from tiderec.query.entities import Entity, Lexicon
from tiderec.query.reader import MERGES, ConstraintReader, combine


def test_the_lexicon_adds_or_confirms_but_never_cuts_a_longer_tagger_span() -> None:
    tagged = [Entity("皮线", "product", 0, 2), Entity("耳机", "product", 5, 7)]
    lexical = [Entity("皮", "attribute", 0, 1), Entity("耳机", "product", 5, 7), Entity("黑色", "attribute", 2, 4)]
    kept = combine(tagged, lexical, "tagger+lexicon")
    assert [(e.text, e.type) for e in kept] == [("皮线", "product"), ("黑色", "attribute"), ("耳机", "product")]
    before = combine(tagged, lexical, "lexicon-first")
    assert ("皮线", "product") not in [(e.text, e.type) for e in before]
    assert combine(tagged, lexical, "tagger") == tagged
    with pytest.raises(ValueError, match="unknown entity merge"):
        ConstraintReader(Lexicon.of(), None, "union")
    assert MERGES[0] == "tagger+lexicon"


def test_single_character_and_audience_words_need_context() -> None:
    found = [(e.text, e.type) for e in Lexicon.of().find("女款皮线 儿童座椅 给宝宝买 儿童用 红 红色")]
    assert ("皮", "attribute") not in found
    assert ("女", "attribute") not in found
    assert ("宝宝", "attribute") in found
    assert ("儿童", "attribute") in found
    assert found.count(("儿童", "attribute")) == 1
    assert ("红色", "attribute") in found
    assert ("红", "attribute") not in found


def test_price_and_negations_are_read_on_noisy_text_with_raw_offsets() -> None:
    raw = "我想买 \x1b[1mNike\x1b[0m 跑鞋👟, budget ８００元以内, not 红色\u200b"
    reading = ConstraintReader(Lexicon.of()).read(raw)
    assert reading.price is not None
    assert (reading.price.min, reading.price.max) == (None, 800.0)
    assert [n.text for n in reading.negations] == ["红色"]
    assert raw[reading.negations[0].start : reading.negations[0].end] == "红色"
    assert all(raw[e.start : e.end] == e.text for e in reading.entities)
    assert not any(e.text in ("31mred", "t", "👟") for e in reading.entities)
