from __future__ import annotations

import pytest
import torch

from tiderec.query.build import TaggerBuild, _members
from tiderec.query.ner import Sentence, TrainConfig
from tiderec.query.tagger import TaggerConfig


def _titles() -> list[Sentence]:
    out = []
    for brand in ["华为", "小米", "苹果"]:
        for product in ["手机", "耳机", "平板"]:
            tags = ["O", "O", "B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX"]
            out.append(Sentence(list("新款" + brand + product), tags))
    return out


def test_members_trained_side_by_side_equal_members_trained_one_after_another() -> None:
    """Two members in spawned processes (a thread each) are the two seeds trained here, weight for weight."""
    recipe = TrainConfig(TaggerConfig(dim=16, hidden=16, bigram_dim=8), epochs=3, patience=3, folds=2)
    titles = _titles()
    apart = _members(titles, titles, TaggerBuild(recipe, threads=2, members=2), {}, False)
    here = _members(titles, titles, TaggerBuild(recipe, threads=1, members=2), {}, False)
    assert [h for _, h in apart] == [h for _, h in here]
    for (a, _), (b, _) in zip(apart, here, strict=True):
        for (name, x), y in zip(a.models[0].state_dict().items(), b.models[0].state_dict().values(), strict=True):
            assert torch.equal(x, y), name
    first, second = (t.models[0].state_dict()["out.weight"] for t, _ in here)
    assert not torch.equal(first, second)


def test_a_build_needs_a_member_and_a_thread() -> None:
    with pytest.raises(ValueError, match="members >= 1"):
        TaggerBuild(members=0)
    with pytest.raises(ValueError, match="threads >= 1"):
        TaggerBuild(threads=0)
