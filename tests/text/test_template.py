from __future__ import annotations

from pathlib import Path

import polars as pl

from tiderec import config as configs
from tiderec.text.template import ItemTextTemplate, clean_text, render, text_hashes
from tiderec.types import Items


def items(rows: list[dict[str, object]]) -> Items:
    return Items.from_frame(pl.DataFrame(rows, schema_overrides={"category": pl.List(pl.String)}))


def test_fields_in_order_with_empty_parts_left_out() -> None:
    cat = items(
        [
            {
                "item_id": "a",
                "title": "李宁 跑步鞋",
                "category": ["鞋", "运动鞋"],
                "brand": "李宁",
                "description": None,
            },
            {"item_id": "b", "title": "Tent", "category": None, "brand": None, "description": "Two-person tent"},
        ]
    )
    out = render(cat, ItemTextTemplate())
    assert out.texts == ["李宁 跑步鞋 | 鞋 > 运动鞋 | 李宁", "Tent | Two-person tent"]
    assert (out.title_fallbacks, out.empty) == (0, 0)


def test_missing_title_falls_back_to_category_and_brand_and_is_counted() -> None:
    cat = items(
        [
            {"item_id": "a", "title": "  ", "category": ["Shoes", "Running"], "brand": "Asics"},
            {"item_id": "b", "title": None, "category": None, "brand": None},
        ]
    )
    template = ItemTextTemplate(fields=("title", "description"))
    out = render(cat, template)
    assert out.texts == ["Shoes > Running | Asics", ""]
    assert (out.title_fallbacks, out.empty) == (1, 1)


def test_control_characters_and_long_descriptions() -> None:
    assert clean_text("a\x00b\u200bc\t\n  d\ufeff") == "a b c d"
    long = "word " * 100
    cat = items([{"item_id": "a", "title": "T", "description": long}])
    text = render(cat, ItemTextTemplate(description_chars=30)).texts[0]
    assert text.endswith("…")
    assert len(text) <= len("T | ") + 31


def test_price_band_and_attributes() -> None:
    cat = Items.from_frame(
        pl.DataFrame({"item_id": ["a", "b"], "title": ["x", "y"], "price": [12.0, None], "attributes": [["red"], None]})
    )
    out = render(cat, ItemTextTemplate(fields=("title", "attributes", "price_band")))
    assert out.texts == ["x | red | price under 50", "y"]


def test_hash_tracks_settings_and_round_trips(tmp_path: Path) -> None:
    base = ItemTextTemplate()
    assert base.hash() == ItemTextTemplate().hash()
    assert base.hash() != ItemTextTemplate(description_chars=100).hash()
    assert base.hash() != ItemTextTemplate(version="v2").hash()
    configs.dump(base, tmp_path / "t.toml")
    assert configs.load(ItemTextTemplate, tmp_path / "t.toml") == base


def test_text_hashes_differ_per_text() -> None:
    hashes = text_hashes(["a", "b", "a"]).to_list()
    assert hashes[0] == hashes[2] != hashes[1]
