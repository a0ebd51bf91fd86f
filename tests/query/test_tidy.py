from __future__ import annotations

from tiderec.query.entities import Entity
from tiderec.query.tidy import tidy


def _spans(text: str, parts: list[tuple[str, str]]) -> list[Entity]:
    out, at = [], 0
    for piece, kind in parts:
        start = text.index(piece, at)
        out.append(Entity(piece, kind, start, start + len(piece)))
        at = start + len(piece)
    return out


def test_a_brand_run_into_the_verb_is_cut_at_the_script_gap() -> None:
    text = "我想买 Nike 跑鞋"
    found = tidy(text, _spans(text, [("我想买 Nike", "brand"), ("跑鞋", "product")]))
    assert [(e.text, e.type) for e in found] == [("Nike", "brand"), ("跑鞋", "product")]


def test_split_latin_words_are_rejoined_and_read_as_the_brands_model() -> None:
    text = "我想买 Nike Air Max 270 跑鞋"
    tagged = _spans(text, [("Nike", "brand"), (" Air", "brand"), (" M", "brand"), ("ax ", "brand"), ("270", "model")])
    found = tidy(text, tagged)
    assert [(e.text, e.type) for e in found] == [("Nike", "brand"), ("Air Max 270", "model")]
    assert all(text[e.start : e.end] == e.text for e in found)


def test_particles_leave_a_span_but_title_words_keep_their_characters() -> None:
    text = "适合跑步的鞋 台式机 配件"
    found = tidy(text, _spans(text, [("的鞋", "product"), ("台式机", "product"), ("配件", "product")]))
    assert [e.text for e in found] == ["鞋", "台式机", "配件"]


def test_a_model_glued_to_a_brand_is_left_to_the_tagger() -> None:
    text = "佑康250g牛肉水饺"
    found = tidy(text, _spans(text, [("佑康", "brand"), ("250g", "attribute"), ("水饺", "product")]))
    assert [(e.text, e.type) for e in found] == [("佑康", "brand"), ("250g", "attribute"), ("水饺", "product")]


def test_a_span_of_sentence_frame_characters_alone_is_no_entity() -> None:
    text = "我想买一双鞋，不想要金属的，找一台不锈钢锅"
    tagged = _spans(
        text, [("我想", "brand"), ("鞋", "product"), ("不想要", "brand"), ("找一台", "brand"), ("不锈钢", "attribute")]
    )
    found = tidy(text, tagged)
    assert [(e.text, e.type) for e in found] == [("鞋", "product"), ("不锈钢", "attribute")]
