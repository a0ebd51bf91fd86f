from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tiderec.clean.vocab import Vocabulary
from tiderec.errors import DatasetError


def test_first_appearance_order_and_lookups() -> None:
    vocab = Vocabulary.from_ids(pl.Series(["b", "a", "b", None, "c"]))
    assert vocab.ids.to_list() == ["b", "a", "c"]
    assert vocab.encode(pl.Series(["c", "zz", "b"])).to_list() == [2, None, 0]
    assert vocab.decode(pl.Series([1, 0])).to_list() == ["a", "b"]
    assert vocab.index_of("c") == 2
    assert vocab.index_of("zz") is None


def test_extend_only_appends(tmp_path: Path) -> None:
    vocab = Vocabulary.from_ids(pl.Series(["x", "y"]))
    bigger = vocab.extend(pl.Series(["y", "z", "w", "z"]))
    assert bigger.ids.to_list() == ["x", "y", "z", "w"]
    bigger.write(tmp_path / "v.parquet")
    assert Vocabulary.read(tmp_path / "v.parquet").ids.to_list() == ["x", "y", "z", "w"]


def test_rejects_duplicates_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unique"):
        Vocabulary(pl.Series(["a", "a"]))
    with pytest.raises(DatasetError, match=r"index 5 outside 0\.\.1"):
        Vocabulary.from_ids(pl.Series(["a", "b"])).decode(pl.Series([0, 5]))
    with pytest.raises(DatasetError, match="no such vocabulary"):
        Vocabulary.read(tmp_path / "nope.parquet")
