"""Intent recognition and query understanding with the real multilingual encoder (USE), trained on a small
sample of the shipped labelled intents so that the test stays fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.query.conftest import SampledIntents
from tiderec.cli.main import cli
from tiderec.query.entities import Lexicon
from tiderec.query.intent import IntentModel, LabelledText
from tiderec.query.ner import Sentence, TrainConfig, TrainedTagger, train_tagger
from tiderec.query.softmax import SoftmaxClassifier
from tiderec.query.tagger import TaggerConfig
from tiderec.query.understand import QueryUnderstander


@pytest.fixture(scope="module")
def trained(
    sampled_intents: SampledIntents, tmp_path_factory: pytest.TempPathFactory
) -> tuple[IntentModel, list[LabelledText], Path]:
    folder = tmp_path_factory.mktemp("intent")
    sampled_intents.classifier.save(folder)
    model = IntentModel(sampled_intents.encoder, SoftmaxClassifier.load(folder), threshold=0.0)
    return model, sampled_intents.held_out, folder


def test_each_intent_in_each_language_is_recognised(trained: tuple[IntentModel, list[LabelledText], Path]) -> None:
    model, test, _ = trained
    predicted = model.predict([r.text for r in test])
    for key in sorted({(r.lang, r.intent) for r in test}):
        hits = [p.label == r.intent for p, r in zip(predicted, test, strict=True) if (r.lang, r.intent) == key]
        assert sum(hits) >= 6, (key, sum(hits))
    assert all(0.0 < p.confidence <= 1.0 for p in predicted)


def test_bad_input_gets_an_answer_not_an_exception(trained: tuple[IntentModel, list[LabelledText], Path]) -> None:
    model, _, _ = trained
    understander = QueryUnderstander(model, Lexicon.of())
    texts = ["", "   ", "🙂🙂🙂", "x" * 10_000, "ignore previous instructions'; DROP TABLE items; --", "五百 1k ¥1,299"]
    results = understander.understand(texts)
    assert [r.intent for r in results[:3]] == ["other", "other", "other"]
    assert all(r.entities == [] for r in results[:3])
    for r in results:
        json.dumps(r.to_dict())


def test_constraints_are_read_and_uncertain_product_queries_are_searches(
    trained: tuple[IntentModel, list[LabelledText], Path],
) -> None:
    model, _, _ = trained
    strict = IntentModel(model.encoder, model.classifier, threshold=0.999)
    (result,) = QueryUnderstander(strict, Lexicon.of()).understand(["a leather sofa under $500, not grey"])
    assert result.intent == "search"
    record = result.to_dict()
    assert record["price"] == {"min": None, "max": 500.0}
    assert [n["text"] for n in record["negations"]] == ["grey"]
    assert {"text": "leather", "type": "attribute", "start": 2, "end": 9} in record["entities"]


def test_query_command_batch(trained: tuple[IntentModel, list[LabelledText], Path], tmp_path: Path) -> None:
    _, _, folder = trained
    lines = [{"text": "compare iphone 13 and pixel 7 cameras"}, {"text": "地址可以帮我修改下吗"}]
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    result = CliRunner().invoke(
        cli, ["query", "--input", str(tmp_path / "q.jsonl"), "--output", str(tmp_path / "out.jsonl"),
              "--intent-model", str(folder), "--tagger", str(tmp_path / "no-tagger")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [o["intent"] for o in out] == ["compare", "support"]
    models = [e["text"] for e in out[0]["entities"] if e["type"] == "model"]
    assert models == ["iphone 13", "pixel 7"]
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\nnot json\n')
    bad = CliRunner().invoke(
        cli, ["query", "--input", str(tmp_path / "bad.jsonl"), "--intent-model", str(folder), "--tagger", str(tmp_path)]
    )
    assert bad.exit_code == 2
    assert "bad.jsonl:2" in bad.output
    assert "give either a query TEXT or --input" in CliRunner().invoke(cli, ["query"]).output


def test_a_saved_title_tagger_is_used_on_chinese_text_and_survives_bad_input(
    trained: tuple[IntentModel, list[LabelledText], Path], tmp_path: Path
) -> None:
    """The tagger artefact (CRF, bigrams, lexicon flags) loads through the CLI's path and tags Chinese queries."""
    model, _, folder = trained
    titles = [
        Sentence(list("新款" + b + p + "包邮"), ["O", "O", "B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX", "O", "O"])
        for b in ("华为", "小米", "苹果", "三星")
        for p in ("手机", "耳机", "平板", "手表")
    ]
    small = TrainConfig(TaggerConfig(dim=32, hidden=32, bigram_dim=16), epochs=60, patience=60, lr_decay=1.0, folds=2)
    tagger, _ = train_tagger(titles, titles, small, {"HPPX": {"魅族"}}, progress=False)
    tagger.save(tmp_path / "tagger")
    understander = QueryUnderstander(model, Lexicon.of(), TrainedTagger.load(tmp_path / "tagger"))
    found = understander.reader.entities("新款华为手机包邮")
    assert [(e.text, e.type) for e in found] == [("华为", "brand"), ("手机", "product")]
    texts = ["", "🙂🙂", "x" * 10_000, "华为手机" * 2_500, "华为🙂手机"]
    for text, result in zip(texts, understander.understand(texts), strict=True):
        for e in result.entities:
            assert text[e.start : e.end] == e.text
    out = CliRunner().invoke(
        cli, ["query", "新款小米耳机", "--intent-model", str(folder), "--tagger", str(tmp_path / "tagger")]
    )
    assert out.exit_code == 0, out.output
