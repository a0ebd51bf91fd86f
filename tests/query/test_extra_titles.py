from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tiderec.errors import DatasetError
from tiderec.query.crf import CRF
from tiderec.query.extra_titles import extra_titles, read_bieos
from tiderec.query.ner import Sentence, TrainConfig, _allowed, attribute_words, spans, train_tagger
from tiderec.query.tagger import TaggerConfig

TAGS = ["O", "B-HCCX", "B-HPPX", "B-XH", "I-HCCX", "I-HPPX", "I-XH"]


def test_bieos_titles_read_as_partially_labelled_bio(tmp_path: Path) -> None:
    path = tmp_path / "train.txt.bieos"
    path.write_text("华\tB-HP\n为\tE-HP\n表\tS-HC\n \tO\n\n手\tB-HC\n机\tE-HC\n", encoding="utf-8")
    first, second = read_bieos(path)
    assert first.chars == ["华", "为", "表", " "]
    assert first.tags == ["B-HPPX", "I-HPPX", "B-HCCX", "O"]
    assert spans(first.tags) == [(0, 2, "HPPX"), (2, 3, "HCCX")]
    assert first.unlabelled == ("XH", "MISC")
    assert second.tags == ["B-HCCX", "I-HCCX"]
    bad = tmp_path / "bad.bieos"
    bad.write_text("华\tB-HP\n为\tE-XX\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.bieos:2: bad tagged line"):
        read_bieos(bad)


def test_extra_titles_drop_known_and_repeated_titles() -> None:
    a, b = Sentence(list("华为手机"), ["O"] * 4, ("XH",)), Sentence(list("小米"), ["O"] * 2, ("XH",))
    known = [Sentence(list("小米"), ["B-HPPX", "I-HPPX"])]
    assert extra_titles([a, b, a], known) == [a]


def test_partial_likelihood_sums_over_the_allowed_paths() -> None:
    torch.manual_seed(0)
    crf = CRF(TAGS)
    torch.nn.init.normal_(crf.transitions)
    emissions = torch.randn(2, 5, len(TAGS))
    tags = torch.tensor([[2, 5, 1, 4, 0], [0, 3, 6, 0, 0]])
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    one_hot = torch.nn.functional.one_hot(tags, len(TAGS)).bool()
    plain = crf.nll(emissions, tags, mask)
    assert torch.allclose(crf.nll(emissions, tags, mask, one_hot), plain, atol=1e-4)
    assert crf.nll(emissions, tags, mask, torch.ones_like(one_hot)).abs().item() < 1e-4
    wider = one_hot.clone()
    wider[:, :, 3] = wider[:, :, 6] = True
    assert 0 < crf.nll(emissions, tags, mask, wider).item() < plain.item()


def test_hidden_types_are_allowed_only_where_plausible() -> None:
    tags = ["O", "B-HCCX", "B-HPPX", "B-MISC", "B-XH", "I-HCCX", "I-HPPX", "I-MISC", "I-XH"]
    full = Sentence(list("红色t恤"), ["B-MISC", "I-MISC", "B-HCCX", "I-HCCX"])
    chars = list("华为p9红色防水手机")
    partial = Sentence(chars, ["B-HPPX", "I-HPPX"] + ["O"] * 6 + ["B-HCCX", "I-HCCX"], ("XH", "MISC"))
    allowed = _allowed(partial, tags, attribute_words([full, partial]))
    assert allowed is not None
    assert _allowed(full, tags, attribute_words([full])) is None
    # MISC on the training title's attribute word (红色) and the lexicon's (防水), XH on the model characters only
    assert allowed[:, tags.index("B-MISC")].tolist() == [False] * 4 + [True] * 4 + [False] * 2
    assert allowed[:, tags.index("B-XH")].tolist() == [False, False, True, True] + [False] * 6
    assert allowed[:, 0].tolist() == [False, False] + [True] * 6 + [False, False]
    assert allowed[:, tags.index("B-HPPX")].tolist() == [True] + [False] * 9
    anywhere = _allowed(partial, tags)
    assert anywhere is not None
    assert anywhere[2:8, tags.index("B-MISC")].all()
    assert anywhere[2:8, tags.index("I-XH")].all()
    with pytest.raises(ValueError, match="hidden-type rule"):
        TrainConfig(hidden="nowhere")


def _titles(unlabelled: tuple[str, ...]) -> list[Sentence]:
    """Full titles tag brand, product word and model; the partial ones (model left as O) say brand and product only."""
    full, partial = [], []
    for brand in ("华为", "小米", "苹果", "三星"):
        for model in ("p9", "x5", "k3"):
            chars = list(brand + model + "手机")
            full.append(Sentence(chars, ["B-HPPX", "I-HPPX", "B-XH", "I-XH", "B-HCCX", "I-HCCX"]))
            partial.append(Sentence(chars, ["B-HPPX", "I-HPPX", "O", "O", "B-HCCX", "I-HCCX"], unlabelled))
    return full[:4] + partial


def test_partially_labelled_titles_do_not_teach_that_unlabelled_types_are_absent() -> None:
    small = TaggerConfig(dim=32, hidden=32, bigram_dim=0, dropout=0.1)
    config = TrainConfig(model=small, epochs=40, patience=40, lr=1e-2, lr_decay=1.0, gazetteer=False, folds=2)
    test = [list("三星k3手机")]
    as_partial, _ = train_tagger(_titles(("XH",)), _titles(("XH",)), config, progress=False)
    as_full, _ = train_tagger(_titles(()), _titles(()), config, progress=False)
    assert (2, 4, "XH") in as_partial.predict(test)[0]
    assert (2, 4, "XH") not in as_full.predict(test)[0]
