from __future__ import annotations

from pathlib import Path

from tiderec.query.ner import Sentence
from tiderec.query.ner_splits import title_splits, unique_titles, unseen


def _s(text: str) -> Sentence:
    return Sentence(list(text), ["O"] * len(text))


def test_duplicates_collapse_and_seen_titles_leave_dev() -> None:
    train = [_s("华为手机"), _s("小米耳机"), _s("华为手机")]
    dev = [_s("华为手机"), _s("苹果平板"), _s("苹果平板")]
    assert ["".join(s.chars) for s in unique_titles(train)] == ["华为手机", "小米耳机"]
    assert ["".join(s.chars) for s in unseen(dev, train)] == ["苹果平板"]


def test_the_shipped_title_splits_share_no_title(data_root: Path) -> None:
    splits = title_splits(data_root / "text-zh" / "taobao-title-ner")
    keys = [{"".join(s.chars) for s in part} for part in (splits.train, splits.valid, splits.dev)]
    assert not keys[0] & keys[1]
    assert not keys[0] & keys[2]
    assert not keys[1] & keys[2]
    assert (splits.raw_train, splits.raw_dev) == (6000, 998)
    assert len(splits.train) + len(splits.valid) == 4610
    assert len(splits.dev) == 495
