"""Each cleaning rule on small hand-made logs, and the report's bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tests.conftest import T0, events
from tiderec.clean.config import (
    Bots,
    CleanConfig,
    Duplicates,
    KCore,
    Negatives,
    Repeats,
    Sessions,
    TimeWindow,
)
from tiderec.clean.pipeline import clean
from tiderec.types import Events

LOOSE = CleanConfig(k_core=KCore(min_user=1, min_item=1), bots=Bots(max_events=None))


def run(ev: Events, **changes: object) -> tuple[pl.DataFrame, dict[str, int]]:
    cfg = CleanConfig(**{**LOOSE.__dict__, **changes})
    result = clean(ev, config=cfg)
    removed = {r.rule: r.rows_removed for r in result.report.rules}
    return result.events.frame, removed


def test_missing_values_are_counted_per_field() -> None:
    ev = events([("u", "a", 0), (None, "b", 1), ("u", None, 2), ("u", "c", None)])
    frame, removed = run(ev)
    assert frame["item_id"].to_list() == ["a"]
    assert removed["missing user_id"] == 1
    assert removed["missing item_id"] == 1
    assert removed["missing ts"] == 1


def test_search_events_may_lack_an_item() -> None:
    ev = events([("u", None, 0, "search"), ("u", "a", 1, "view")], ("user_id", "item_id", "ts", "event_type"))
    frame, removed = run(ev)
    assert frame.height == 2
    assert removed["missing item_id"] == 0


def test_time_window_is_half_open_and_timezone_aware() -> None:
    cst = datetime(2024, 1, 1, 8, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    ev = events([("u", "a", -1), ("u", "b", 0), ("u", "c", 59), ("u", "d", 60)])
    frame, removed = run(ev, time_window=TimeWindow(start=cst - timedelta(hours=8), end=T0 + timedelta(hours=1)))
    assert frame["item_id"].to_list() == ["b", "c"]
    assert removed["outside time window"] == 2


def test_negatives_kept_apart_or_dropped_never_silently() -> None:
    ev = events(
        [("u", "a", 0, "1", 2.0), ("u", "a", 1, "C1", -2.0), ("u", "b", 2, "2", 0.0), ("u", "c", 3, "3", 1.0)],
        ("user_id", "item_id", "ts", "basket_id", "value"),
    )
    cfg = CleanConfig(**{**LOOSE.__dict__, "negatives": Negatives(cancellation_prefix="C")})
    result = clean(ev, config=cfg)
    assert result.events.frame["item_id"].to_list() == ["a", "c"]
    assert result.negatives.frame["basket_id"].to_list() == ["C1", "2"]
    assert result.report.removed("cancellation") == 1
    assert result.report.removed("non-positive value") == 1
    dropped = clean(ev, config=CleanConfig(**{**cfg.__dict__, "negatives": Negatives("C", True, "drop")}))
    assert len(dropped.negatives) == 0
    assert dropped.report.removed("cancellation") == 1


def test_duplicates_on_chosen_keys_keep_the_first() -> None:
    ev = events(
        [("u", "a", 0, "b1", 1.0), ("u", "a", 0, "b1", 3.0), ("u", "a", 5, "b2", 1.0)],
        ("user_id", "item_id", "ts", "basket_id", "value"),
    )
    keep = Repeats(action="keep")
    frame, removed = run(ev, repeats=keep)
    assert frame.height == 3
    assert removed["duplicate"] == 0
    frame, removed = run(ev, repeats=keep, duplicates=Duplicates(keys=("user_id", "item_id", "basket_id")))
    assert frame["value"].to_list() == [1.0, 1.0]
    assert removed["duplicate"] == 1


def test_bots_flag_bursts_of_distinct_instants_not_baskets() -> None:
    burst = [("bot", f"i{k}", T0 + timedelta(seconds=k)) for k in range(12)]
    basket = [("shopper", f"i{k}", T0) for k in range(12)]
    ev = events(burst + basket)
    frame, removed = run(ev, bots=Bots(max_events=10, window=timedelta(minutes=1)))
    assert set(frame["user_id"].to_list()) == {"shopper"}
    assert removed["bot-like user"] == 12
    frame, _ = run(ev, bots=Bots(max_events=20, window=timedelta(minutes=1)))
    assert frame.height == 24


def test_bots_by_total_volume() -> None:
    ev = events([("heavy", f"i{k}", k * 120) for k in range(6)] + [("light", "i0", 0)])
    frame, _ = run(ev, bots=Bots(max_events=None, max_total=5))
    assert frame["user_id"].to_list() == ["light"]


def test_consecutive_repeats_per_user_on_keys() -> None:
    ev = events(
        [
            ("u", "a", 0, "view"),
            ("v", "a", 1, "view"),
            ("u", "a", 2, "view"),
            ("u", "a", 3, "cart"),
            ("u", "b", 4, "view"),
            ("u", "a", 5, "view"),
        ],
        ("user_id", "item_id", "ts", "event_type"),
    )
    frame, removed = run(ev)
    assert frame.filter(pl.col("user_id") == "u")["event_type"].to_list() == ["view", "cart", "view", "view"]
    assert removed["consecutive repeat"] == 1
    frame, removed = run(ev, repeats=Repeats(action="drop", keys=("item_id",)))
    assert removed["consecutive repeat"] == 2
    frame, removed = run(ev, repeats=Repeats(action="keep"))
    assert frame.height == 6


def test_k_core_iterates_until_stable() -> None:
    rows = [("u1", "a", 0), ("u1", "b", 1), ("u2", "a", 2), ("u2", "b", 3), ("u3", "a", 4), ("u3", "c", 5)]
    ev = events(rows)
    result = clean(ev, config=CleanConfig(**{**LOOSE.__dict__, "k_core": KCore(min_user=2, min_item=2)}))
    frame = result.events.frame
    assert sorted(frame["user_id"].unique().to_list()) == ["u1", "u2"]
    assert frame.height == 4
    assert result.report.removed("k-core") == 2
    detail = next(r.detail for r in result.report.rules if r.rule == "k-core")
    assert "2 rounds" in detail


def test_sessions_split_on_inactivity_gap() -> None:
    ev = events([("u", "a", 0), ("u", "b", 10), ("u", "c", 100), ("v", "a", 5)])
    frame, _ = run(ev, sessions=Sessions(mode="gap", gap=timedelta(minutes=30)))
    by_item = dict(zip(frame["item_id"] + frame["user_id"], frame["session_id"], strict=True))
    assert by_item == {"au": "u/1", "bu": "u/1", "cu": "u/2", "av": "v/1"}


def test_output_is_in_time_order_with_input_order_for_ties() -> None:
    ev = events([("u", "late", 10), ("u", "x", 0), ("v", "y", 0), ("u", "z", 0)])
    frame, _ = run(ev)
    assert frame["item_id"].to_list() == ["x", "y", "z", "late"]


def test_ordinal_time_skips_bots_and_gap_sessions() -> None:
    ev = events([("u", f"i{k}", T0 + timedelta(seconds=k)) for k in range(100)])
    ev = Events(ev.frame, {"time": "order"})
    result = clean(ev, config=CleanConfig(k_core=KCore(1, 1), bots=Bots(max_events=5)))
    assert len(result.events) == 100
    assert result.events.frame["session_id"].null_count() == 100
    skipped = next(r for r in result.report.rules if r.rule == "bot-like user")
    assert "skipped" in skipped.detail


def test_report_accounts_for_every_row_and_vocab_matches_events() -> None:
    ev = events(
        [("u", "a", 0), ("u", "a", 0), ("u", "b", 1), (None, "c", 2), ("w", "d", 3), ("w", "d", 4)],
    )
    result = clean(ev, config=CleanConfig(k_core=KCore(1, 1)))
    report = result.report
    assert report.rows_in - report.rows_out == sum(r.rows_removed for r in report.rules)
    assert report.rules[-1].rows_after == report.rows_out
    assert result.user_vocab.ids.to_list() == ["u", "w"]
    assert result.item_vocab.ids.to_list() == ["a", "b", "d"]
    assert result.items.frame["item_id"].to_list() == ["a", "b", "d"]


@pytest.mark.parametrize("rule", ["duplicate", "consecutive repeat", "k-core"])
def test_examples_hold_removed_rows(rule: str) -> None:
    ev = events([("u", "a", 0), ("u", "a", 0), ("u", "a", 1), ("v", "b", 2)])
    result = clean(ev, config=CleanConfig(k_core=KCore(2, 1), repeats=Repeats(keys=("item_id",))))
    found = next(r for r in result.report.rules if r.rule == rule)
    assert found.rows_removed == len(found.examples) > 0
