from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tiderec.errors import DatasetError
from tiderec.query.crf import CRF, mean_scores, viterbi
from tiderec.query.ner import (
    LEXICON_KINDS,
    Dictionary,
    Gazetteer,
    Sentence,
    TrainConfig,
    TrainedTagger,
    ensemble,
    prf,
    read_bio,
    read_dictionaries,
    spans,
    train_tagger,
)
from tiderec.query.tagger import CharTagger, TaggerConfig, ensemble_decode
from tiderec.query.words import WIDTH as WORD_WIDTH
from tiderec.query.words import segmenter

TAGS = ["O", "B-HCCX", "B-HPPX", "I-HCCX", "I-HPPX"]


def _valid_bio(path: list[str]) -> bool:
    before = "O"
    for tag in path:
        if tag.startswith("I-") and before[2:] != tag[2:]:
            return False
        before = tag
    return True


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


def _random_crf(seed: int) -> CRF:
    """A CRF over TAGS with standard-normal scores (torch seeded with `seed`, which also drives later draws)."""
    torch.manual_seed(seed)
    crf = CRF(TAGS)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def test_crf_viterbi_and_partition_match_brute_force() -> None:
    crf = _random_crf(0)
    emissions = torch.randn(3, 4, len(TAGS)) * 3
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    decoded = crf.decode(emissions, mask)
    with torch.no_grad():
        trans, start = crf._scores()
    for row in range(3):
        n = int(mask[row].sum())
        scores = {}
        for path in itertools.product(range(len(TAGS)), repeat=n):
            s = start[path[0]] + emissions[row, 0, path[0]] + crf.end[path[-1]]
            for k in range(1, n):
                s = s + trans[path[k - 1], path[k]] + emissions[row, k, path[k]]
            scores[path] = s.item()
        best = max(scores, key=lambda p: scores[p])
        assert tuple(decoded[row, :n].tolist()) == best
        assert _valid_bio([TAGS[t] for t in best])
        gold = torch.tensor([list(best) + [0] * (4 - n)])
        nll = crf.nll(emissions[row : row + 1], gold, mask[row : row + 1]).item()
        log_z = float(torch.logsumexp(torch.tensor(list(scores.values())), 0))
        assert nll == pytest.approx(log_z - scores[best], abs=1e-3)


def test_crf_marginals_match_brute_force_and_their_decode_is_valid_bio() -> None:
    crf = _random_crf(2)
    with torch.no_grad():
        emissions = torch.randn(2, 4, len(TAGS)) * 2
        mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
        probs = crf.marginals(emissions, mask)
        trans, start = crf._scores()
        for row in range(2):
            n = int(mask[row].sum())
            weight = torch.zeros(n, len(TAGS), dtype=torch.float64)
            for path in itertools.product(range(len(TAGS)), repeat=n):
                s = start[path[0]] + emissions[row, 0, path[0]] + crf.end[path[-1]]
                for k in range(1, n):
                    s = s + trans[path[k - 1], path[k]] + emissions[row, k, path[k]]
                for k, tag in enumerate(path):
                    weight[k, tag] += float(torch.exp(s))
            expected = weight / weight.sum(1, keepdim=True)
            assert torch.allclose(probs[row, :n].double(), expected, atol=1e-4)
        decoded = crf.decode_marginals(probs, mask)
    for row in range(2):
        assert _valid_bio([TAGS[t] for t in decoded[row, : int(mask[row].sum())].tolist()])


def test_crf_decode_never_breaks_bio_even_when_emissions_want_it() -> None:
    crf = CRF(TAGS)
    emissions = torch.full((1, 3, len(TAGS)), -5.0)
    emissions[0, :, TAGS.index("I-HPPX")] = 5.0  # the argmax would be I-HPPX everywhere: invalid at the start
    path = [TAGS[t] for t in crf.decode(emissions, torch.ones(1, 3, dtype=torch.bool))[0].tolist()]
    assert _valid_bio(path)
    assert path == ["B-HPPX", "I-HPPX", "I-HPPX"]


def test_gazetteer_flags_on_a_known_string() -> None:
    gaz = Gazetteer({"HPPX": {"华为", "Apple"}, "HCCX": {"手机", "手机壳", "壳"}})
    flags = gaz.flags(list("APPLE华为手机壳"))
    brand, product = 4 * 1, 4 * 0  # LEXICON_KINDS = HCCX, HPPX, XH, MISC; columns B, I, E, S
    assert flags.shape == (10, 16)
    assert flags[:5, brand : brand + 4].tolist() == [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
    ]
    assert flags[5:7, brand : brand + 4].tolist() == [[1, 0, 0, 0], [0, 0, 1, 0]]
    assert flags[7:10, product : product + 4].tolist() == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    assert flags[:, 8:].sum() == 0
    assert gaz.flags([]).shape == (0, 16)


def test_shipped_dictionaries_read_as_typed_words(data_root: Path) -> None:
    words = read_dictionaries(data_root / "text-zh" / "ecommerce-ner-dicts")
    assert set(words) == {"HPPX", "HCCX"}
    assert len(words["HPPX"]) > 20000
    assert len(words["HCCX"]) > 10000
    assert "冰盒" in words["HCCX"]


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


SMALL = TaggerConfig(dim=32, hidden=32, bigram_dim=16, crf=True)


PLAIN = TaggerConfig(dim=32, hidden=32, bigram_dim=0, dropout=0.2, crf=False)


@pytest.mark.parametrize("model", [PLAIN, SMALL])
def test_the_tagger_learns_and_round_trips(tmp_path: Path, model: TaggerConfig) -> None:
    data = _toy()
    config = TrainConfig(model=model, epochs=60, patience=60, lr_decay=1.0, gazetteer=model.crf, folds=2)
    tagger, history = train_tagger(data, data, config, progress=False)
    assert max(history) > 0.9
    tagger.save(tmp_path / "tagger")
    segmenter.cache_clear()
    again = TrainedTagger.load(tmp_path / "tagger")
    assert segmenter.cache_info().currsize == 1
    assert again.words
    assert tagger.words
    assert again.n_flags == tagger.n_flags == (4 * len(LEXICON_KINDS) if model.crf else 0) + WORD_WIDTH
    assert again.predict([data[0].chars]) == tagger.predict([data[0].chars])
    assert again.predict([list("新款华为手机包邮")])[0] == [(2, 4, "HPPX"), (4, 6, "HCCX")]


def test_e5_states_join_the_features_projected_and_round_trip(tmp_path: Path) -> None:
    data = _toy()
    model = replace(SMALL, states_dim=8)
    config = TrainConfig(model=model, epochs=40, patience=40, lr_decay=1.0, folds=2, e5_layer=2)
    tagger, history = train_tagger(data, data, config, progress=False)
    assert max(history) > 0.9
    assert tagger.e5_layer == 2
    assert tagger.n_flags == 4 * len(LEXICON_KINDS) + WORD_WIDTH + 384
    assert tagger.models[0].config.states == 384
    assert tagger.models[0].project is not None
    assert tagger.models[0].project.out_features == 8
    one = tagger.features(data[0].chars)
    (batched,) = tagger.featurise([data[0].chars])
    np.testing.assert_allclose(one.flags, batched.flags, atol=1e-5)
    with pytest.raises(ValueError, match="single characters; got the element '华为'"):
        tagger.predict([["华为", "手机"]])
    tagger.save(tmp_path / "tagger")
    again = TrainedTagger.load(tmp_path / "tagger")
    assert again.e5_layer == 2
    assert again.predict([list("新款华为手机包邮")]) == tagger.predict([list("新款华为手机包邮")])
    with pytest.raises(ValueError, match=r"e5_layer must be 0\.\.12"):
        TrainConfig(e5_layer=13)
    with pytest.raises(ValueError, match=r"states \(384\) must be within the 20 feature columns"):
        CharTagger(10, TAGS, replace(SMALL, states=384), 0, 20)


def test_bad_input_gives_valid_spans() -> None:
    tagger, _ = train_tagger(_toy(), _toy(), TrainConfig(model=SMALL, epochs=2, gazetteer=True, folds=2), None, False)
    texts = ["", "😀🎉", "华为😀手机", "x" * 10_000, " \t\n", "华为手机" * 2_500]
    found = tagger.predict([list(t) for t in texts])
    assert found[0] == []
    assert len(found) == len(texts)
    for text, entities in zip(texts, found, strict=True):
        for start, end, kind in entities:
            assert 0 <= start < end <= len(text)
            assert kind in ("HPPX", "HCCX")


def test_the_older_artefact_layout_still_loads(tmp_path: Path) -> None:
    chars, tags = {"华": 2, "为": 3}, ["O", "B-HPPX", "I-HPPX"]
    model = CharTagger(len(chars) + 2, tags, TaggerConfig(dim=16, hidden=8, bigram_dim=0, dropout=0.2, crf=False))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "tagger.safetensors"))
    meta = {"chars": chars, "tags": tags, "dim": 16, "hidden": 8}
    (tmp_path / "tagger.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    loaded = TrainedTagger.load(tmp_path)
    assert loaded.gazetteer is None
    assert loaded.models[0].crf is None
    (found,) = loaded.predict([list("华为")])
    assert all(0 <= a < b <= 2 for a, b, _ in found)


def test_mean_crf_scores_and_explicit_viterbi_decode_like_the_crf() -> None:
    torch.manual_seed(1)
    crfs = [CRF(TAGS), CRF(TAGS)]
    with torch.no_grad():
        for crf in crfs:
            for p in crf.parameters():
                p.normal_()
    trans, start, end = mean_scores(crfs)
    with torch.no_grad():
        assert torch.allclose(trans, (crfs[0]._scores()[0] + crfs[1]._scores()[0]) / 2)
        assert torch.allclose(start, (crfs[0]._scores()[1] + crfs[1]._scores()[1]) / 2)
        assert torch.allclose(end, (crfs[0].end + crfs[1].end) / 2)
        emissions, mask = torch.randn(3, 5, len(TAGS)), torch.tensor([[1] * 5, [1] * 3 + [0] * 2, [1] + [0] * 4]) > 0
        assert torch.equal(viterbi(emissions, mask, *mean_scores(crfs[:1])), crfs[0].decode(emissions, mask))
    with pytest.raises(ValueError, match="at least one"):
        mean_scores([])


@pytest.fixture(scope="module")
def members() -> list[TrainedTagger]:
    """Two taggers trained on the toy titles with different seeds (seconds)."""
    config = TrainConfig(model=SMALL, epochs=15, patience=15, lr_decay=1.0, folds=2)
    return [train_tagger(_toy(), _toy(), replace(config, seed=seed), progress=False)[0] for seed in (0, 1)]


def test_an_ensemble_of_one_decodes_exactly_like_its_model(members: list[TrainedTagger]) -> None:
    texts = [list("新款华为手机包邮"), list("苹果耳机"), [], list("三星平板小米手表")]
    single = members[0]
    assert ensemble([single]).predict(texts) == single.predict(texts)
    assert ensemble([single, single]).predict(texts) == single.predict(texts)
    model = single.models[0].eval()
    chars, bigrams = torch.randint(0, 20, (2, 6)), torch.randint(0, 20, (2, 6))
    flags, mask = torch.rand(2, 6, model.n_flags), torch.tensor([[1] * 6, [1] * 4 + [0] * 2]) > 0
    with torch.inference_mode():
        alone = model.decode(model(chars, bigrams, flags), mask)
        assert torch.equal(ensemble_decode([model], chars, bigrams, flags, mask), alone)


def test_an_ensemble_round_trips_with_identical_predictions(tmp_path: Path, members: list[TrainedTagger]) -> None:
    both = ensemble(members)
    assert len(both.models) == 2
    texts = [s.chars for s in _toy()] + [list("小米华为耳机"), list("😀"), []]
    both.save(tmp_path / "tagger")
    assert json.loads((tmp_path / "tagger" / "tagger.json").read_text(encoding="utf-8"))["members"] == 2
    again = TrainedTagger.load(tmp_path / "tagger")
    assert len(again.models) == 2
    assert again.predict(texts) == both.predict(texts)


def test_a_mean_marginals_ensemble_round_trips_and_decodes_valid_spans(
    tmp_path: Path, members: list[TrainedTagger]
) -> None:
    both = ensemble(members, "marginals")
    texts = [s.chars for s in _toy()] + [list("华为😀手机"), list("x" * 300), []]
    both.save(tmp_path)
    assert json.loads((tmp_path / "tagger.json").read_text(encoding="utf-8"))["decode"] == "marginals"
    again = TrainedTagger.load(tmp_path)
    found = again.predict(texts)
    assert again.decode == "marginals"
    assert found == both.predict(texts)
    for text, entities in zip(texts, found, strict=True):
        assert all(0 <= a < b <= len(text) and kind in ("HPPX", "HCCX") for a, b, kind in entities)
    with pytest.raises(ValueError, match="unknown ensemble decode 'vote'; valid: scores, marginals"):
        ensemble(members, "vote")


def test_the_single_model_layout_before_ensembles_still_loads(tmp_path: Path, members: list[TrainedTagger]) -> None:
    single = members[0]
    single.save(tmp_path)
    meta = json.loads((tmp_path / "tagger.json").read_text(encoding="utf-8"))
    del meta["members"]
    (tmp_path / "tagger.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    weights = {k: v.contiguous() for k, v in single.models[0].state_dict().items()}
    save_file(weights, str(tmp_path / "tagger.safetensors"))
    texts = [s.chars for s in _toy()]
    assert TrainedTagger.load(tmp_path).predict(texts) == single.predict(texts)


def test_a_truncated_ensemble_artefact_is_a_precise_error(tmp_path: Path, members: list[TrainedTagger]) -> None:
    ensemble(members).save(tmp_path)
    meta = json.loads((tmp_path / "tagger.json").read_text(encoding="utf-8"))
    (tmp_path / "tagger.json").write_text(json.dumps(meta | {"members": 3}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"no weights for member\(s\) \[2\] of 3"):
        TrainedTagger.load(tmp_path)
    (tmp_path / "tagger.json").write_text(json.dumps(meta | {"members": 1}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"belongs to no member 0\.\.0"):
        TrainedTagger.load(tmp_path)


def test_an_ensemble_rejects_members_of_other_vocabularies(members: list[TrainedTagger]) -> None:
    other = [Sentence(list("一加手机"), ["B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX"]), *_toy()]
    config = TrainConfig(model=SMALL, epochs=1, folds=2)
    stranger, _ = train_tagger(other, other, config, progress=False)
    with pytest.raises(ValueError, match="vocabularies"):
        ensemble([members[0], stranger])
    with pytest.raises(ValueError, match="at least one"):
        ensemble([])
    with pytest.raises(ValueError, match="differ in shape"):
        TrainedTagger([members[0].models[0], CharTagger(40, TAGS, PLAIN)], members[0].chars, TAGS)


def test_on_a_real_slice_lexicon_flags_and_crf_beat_the_dictionary(data_root: Path) -> None:
    """300 real titles: the tagger (CRF, lexicon flags) learns to beat dictionary matching on unseen titles."""
    torch.set_num_threads(2)
    folder = data_root / "text-zh"
    sentences = read_bio(folder / "taobao-title-ner" / "train.txt")
    pick = np.random.default_rng(1).permutation(len(sentences))
    train, held = [sentences[k] for k in pick[:300]], [sentences[k] for k in pick[300:500]]
    lexicon = read_dictionaries(folder / "ecommerce-ner-dicts")
    config = TrainConfig(model=TaggerConfig(dim=64, hidden=64, bigram_dim=32), epochs=10, batch=16, lr_decay=1.0)
    tagger, _ = train_tagger(train, held, config, lexicon, progress=False)
    gold = [spans(s.tags) for s in held]
    ours = prf(gold, tagger.predict([s.chars for s in held]))["all"]["f1"]
    baseline = prf(gold, [Dictionary(train).tag(s.chars) for s in held])["all"]["f1"]
    assert ours > baseline
