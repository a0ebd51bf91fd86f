"""Incremental encoding and the vector store, with a tiny deterministic encoder (unit tests of the store
logic only; the real models are tested in test_encoders.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from tiderec.errors import DatasetError
from tiderec.text.encode import encode_items
from tiderec.text.encoders.base import EncoderConfig, TextEncoder, normalize
from tiderec.text.store import read_vectors, write_vectors
from tiderec.text.template import ItemTextTemplate, default_template
from tiderec.types import Items


class HashEncoder(TextEncoder):
    """Deterministic 8-d vectors from a text digest; records every text it was asked to encode."""

    name: ClassVar[str] = "hash"
    dim: ClassVar[int] = 8
    max_tokens: ClassVar[int | None] = 5

    def __init__(self, config: EncoderConfig | None = None) -> None:
        self.seen: list[str] = []

    @property
    def version(self) -> str:
        return "hash-1"

    def _encode_chunk(self, texts: list[str], query: bool) -> np.ndarray:
        self.seen += texts
        raw = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], dtype=np.uint8) for t in texts]
        return normalize(np.asarray(raw, dtype=np.float32) + 1.0)

    def count_over_length(self, texts: list[str]) -> int:  # type: ignore[override]
        return sum(len(t.split()) > 5 for t in texts)


def catalogue(n: int = 30, changed: set[int] | None = None) -> Items:
    titles = [f"item {i} title" + (" v2" if changed and i in changed else "") for i in range(n)]
    return Items.from_frame(pl.DataFrame({"item_id": [f"i{i}" for i in range(n)], "title": titles}))


def test_second_run_encodes_nothing_and_ten_changes_encode_ten(tmp_path: Path) -> None:
    enc = HashEncoder()
    first, report = encode_items(catalogue(), enc, progress=False)
    assert (report.encoded, report.reused) == (30, 0)
    write_vectors(first, tmp_path / "v")
    stored = read_vectors(tmp_path / "v")
    second, report = encode_items(catalogue(), enc, previous=stored, progress=False)
    assert (report.encoded, report.reused) == (0, 30)
    np.testing.assert_array_equal(second.vectors, first.vectors)
    changed = set(range(0, 30, 3))
    enc.seen.clear()
    third, report = encode_items(catalogue(changed=changed), enc, previous=stored, progress=False)
    assert (report.encoded, report.reused) == (10, 20)
    assert sorted(enc.seen) == sorted(f"item {i} title v2" for i in changed)
    assert not np.allclose(third.vectors[0], first.vectors[0])
    np.testing.assert_array_equal(third.vectors[1], first.vectors[1])


def test_new_and_removed_items(tmp_path: Path) -> None:
    enc = HashEncoder()
    first, _ = encode_items(catalogue(10), enc, progress=False)
    grown = Items.from_frame(
        pl.concat([catalogue(10).frame.tail(8), catalogue(12).frame.tail(2)]).select("item_id", "title")
    )
    second, report = encode_items(grown, enc, previous=first, progress=False)
    assert (report.encoded, report.reused, report.dropped) == (2, 8, 2)
    assert second.item_ids.to_list() == grown.frame["item_id"].to_list()


def test_template_or_encoder_change_reencodes_everything() -> None:
    enc = HashEncoder()
    first, _ = encode_items(catalogue(5), enc, progress=False)
    _, report = encode_items(catalogue(5), enc, ItemTextTemplate(version="v2"), previous=first, progress=False)
    assert report.encoded == 5


def test_identical_texts_are_encoded_once_and_empty_texts_get_zero_vectors() -> None:
    frame = pl.DataFrame(
        {"item_id": ["a", "b", "c", "d"], "title": ["same", "same", None, "one two three four five six"]}
    )
    enc = HashEncoder()
    store, report = encode_items(Items.from_frame(frame), enc, progress=False)
    assert enc.seen.count("same") == 1
    np.testing.assert_array_equal(store.vectors[0], store.vectors[1])
    assert not store.vectors[2].any()
    assert (report.empty_texts, report.over_length, report.encoded) == (1, 1, 3)


def test_manifest_round_trip_and_alignment(tmp_path: Path) -> None:
    store, _ = encode_items(catalogue(6), HashEncoder(), progress=False)
    write_vectors(store, tmp_path / "v")
    back = read_vectors(tmp_path / "v")
    assert back.space == store.space
    assert back.template == store.template
    assert back.texts.to_list() == store.texts.to_list()
    np.testing.assert_array_equal(back.vectors, store.vectors)
    aligned, found = back.aligned(pl.Series(["i5", "zz", "i0"]))
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(aligned[0], store.vectors[5])
    assert not aligned[1].any()


def test_store_rejects_mismatched_shapes(tmp_path: Path) -> None:
    store, _ = encode_items(catalogue(3), HashEncoder(), progress=False)
    with pytest.raises(DatasetError, match="expected"):
        type(store)(store.item_ids, store.vectors[:2], store.text_hashes, store.texts, store.space, store.template)
    with pytest.raises(DatasetError, match="not a tiderec artefact"):
        read_vectors(tmp_path)


def test_an_attribute_only_catalogue_is_encoded_from_its_attributes_by_default() -> None:
    frame = pl.DataFrame({"item_id": ["a", "b"], "attributes": [["1", "2"], ["3"]]})
    store, _ = encode_items(Items.from_frame(frame), HashEncoder(), progress=False)
    assert store.texts.to_list() == ["1, 2", "3"]
    template, reason = default_template(Items.from_frame(frame))
    assert "attributes" in template.fields
    assert "attributes are read" in reason
    titled = frame.with_columns(pl.Series("title", ["lipstick", None]))
    assert default_template(Items.from_frame(titled))[0] == ItemTextTemplate()


def test_a_catalogue_without_any_text_is_a_clear_error() -> None:
    frame = pl.DataFrame({"item_id": ["a", "b"], "attributes": [["1", "2"], ["3"]]})
    with pytest.raises(DatasetError, match=r"none of the 2 items has text .* add 'attributes'"):
        encode_items(Items.from_frame(frame), HashEncoder(), ItemTextTemplate(), progress=False)
    bare = pl.DataFrame({"item_id": ["a", "b"]})
    with pytest.raises(DatasetError, match="none of the 2 items has text"):
        encode_items(Items.from_frame(bare), HashEncoder(), progress=False)


def test_unknown_template_field_lists_the_valid_ones() -> None:
    from tiderec import config as configs
    from tiderec.errors import ConfigError

    with pytest.raises(ConfigError, match=r"fields\.0: Input should be 'title', 'category'"):
        configs.from_dict(ItemTextTemplate, {"fields": ["name"]})


def test_written_as_encoded_in_small_chunks_equals_in_memory(tmp_path: Path) -> None:
    """Streaming into the store (chunks of 4 texts, duplicates across chunks, an incremental run reading the
    previous store mapped from the folder it replaces) gives the in-memory result, file and all."""
    titles = [f"item {i % 13} title" for i in range(40)] + [""]
    items = Items.from_frame(pl.DataFrame({"item_id": [f"i{i}" for i in range(41)], "title": titles}))
    expected, _ = encode_items(items, HashEncoder(), progress=False)
    out = tmp_path / "store"
    written, report = encode_items(items, HashEncoder(), progress=False, out=out, chunk=4)
    assert isinstance(written.vectors, np.memmap)
    np.testing.assert_array_equal(written.vectors, expected.vectors)
    np.testing.assert_array_equal(read_vectors(out).vectors, expected.vectors)
    assert not read_vectors(out).vectors[40].any()
    assert (report.encoded, report.items) == (40, 41)
    changed = Items.from_frame(items.frame.with_columns(pl.Series("title", ["new words", *titles[1:]])))
    enc = HashEncoder()
    again, report = encode_items(changed, enc, previous=read_vectors(out, mapped=True), out=out, chunk=4)
    assert (report.encoded, report.reused, enc.seen) == (1, 39, ["new words"])
    fresh, _ = encode_items(changed, HashEncoder(), progress=False)
    np.testing.assert_array_equal(read_vectors(out).vectors, fresh.vectors)
    np.testing.assert_array_equal(again.vectors, fresh.vectors)
