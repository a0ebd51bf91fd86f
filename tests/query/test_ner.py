from __future__ import annotations

from pathlib import Path

import pytest

from tiderec.errors import DatasetError
from tiderec.query.ner import Dictionary, Sentence, TrainedTagger, prf, read_bio, spans, train_tagger


def test_read_bio_with_crlf_and_located_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("苹 B-HPPX\r\n果 I-HPPX\r\n手 B-HCCX\r\n机 I-HCCX\r\n\r\n壳 O\r\n".encode())
    sentences = read_bio(path)
    assert [len(s.chars) for s in sentences] == [4, 1]
    assert spans(sentences[0].tags) == [(0, 2, "HPPX"), (2, 4, "HCCX")]
    bad = tmp_path / "bad.txt"
    bad.write_text("苹 B-HPPX\n果 X-HPPX\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.txt:2: bad tagged line"):
        read_bio(bad)


def test_spans_and_entity_metrics_by_hand() -> None:
    assert spans(["O", "I-XH", "I-XH", "B-HCCX", "I-HPPX"]) == [(1, 3, "XH"), (3, 4, "HCCX"), (4, 5, "HPPX")]
    gold = [[(0, 2, "HPPX"), (2, 4, "HCCX")]]
    pred = [[(0, 2, "HPPX"), (2, 3, "HCCX")]]
    scores = prf(gold, pred)
    assert scores["HPPX"]["f1"] == 1.0
    assert scores["HCCX"]["f1"] == 0.0
    assert scores["all"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}


def _toy() -> list[Sentence]:
    brands, products = ["华为", "小米", "苹果", "三星"], ["手机", "耳机", "平板", "手表"]
    out = []
    for b in brands:
        for p in products:
            chars = list("新款" + b + p + "包邮")
            tags = ["O", "O", "B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX", "O", "O"]
            out.append(Sentence(chars, tags))
    return out


def test_dictionary_baseline_matches_longest_first() -> None:
    d = Dictionary(_toy())
    assert d.tag(list("买华为手机")) == [(1, 3, "HPPX"), (3, 5, "HCCX")]


def test_the_tagger_learns_and_round_trips(tmp_path: Path) -> None:
    data = _toy()
    tagger, history = train_tagger(data, data, epochs=60, progress=False, dim=32, hidden=32)
    assert max(history) > 0.9
    tagger.save(tmp_path / "tagger")
    again = TrainedTagger.load(tmp_path / "tagger")
    assert again.predict([data[0].chars]) == tagger.predict([data[0].chars])
    assert again.predict([list("新款华为手机包邮")])[0] == [(2, 4, "HPPX"), (4, 6, "HCCX")]
