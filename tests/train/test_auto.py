"""Settings left to the data: the scoring follows how often shoppers return to an item."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from tiderec.data.interactions import Interactions
from tiderec.errors import ConfigError
from tiderec.testing.worlds import cyclic_world
from tiderec.train.auto import REPEAT_SHARE_FOR_A, repeat_share, settle
from tiderec.train.config import TrainConfig
from tiderec.types import Events


def with_repeats(share_of_users: float) -> Interactions:
    """The cyclic world (no user meets an item twice), where a share of the users see their first item again."""
    events = cyclic_world(n_users=100, n_items=30, length=10)
    frame = events.frame
    firsts = frame.group_by("user_id", maintain_order=True).first().head(int(100 * share_of_users))
    again = firsts.with_columns(pl.col("ts") + pl.duration(days=30))
    return Interactions.from_events(Events.from_frame(pl.concat([frame, again]), events.meta))


def test_repeat_share_counts_events_that_return_to_an_item() -> None:
    assert repeat_share(with_repeats(0.0)) == 0.0
    assert repeat_share(with_repeats(0.5)) == pytest.approx(50 / 1050)


def test_auto_scoring_removes_seen_items_only_where_nobody_returns() -> None:
    never = settle(TrainConfig(), with_repeats(0.0))
    often = settle(TrainConfig(), with_repeats(0.5))
    assert never.config.scoring == "B"
    assert often.config.scoring == "A"
    assert "0.0% of training events" in never.reasons[0]
    assert never.reasons[0].startswith("scoring (B)")
    assert "4.8% of training events" in often.reasons[0]
    assert repeat_share(with_repeats(0.05)) < REPEAT_SHARE_FOR_A
    assert settle(TrainConfig(), with_repeats(0.05)).config.scoring == "B"


def test_a_chosen_scoring_is_kept_and_auto_must_be_settled() -> None:
    chosen = replace(TrainConfig(), valid_scoring="A")
    assert settle(chosen, with_repeats(0.0)) == settle(chosen, with_repeats(0.5))
    assert settle(chosen, with_repeats(0.0)).reasons == ()
    with pytest.raises(ConfigError, match="still 'auto'"):
        _ = TrainConfig().scoring


@pytest.mark.parametrize(("length", "window"), [(10, 50), (80, 100), (150, 200), (400, 200)])
def test_the_window_holds_most_users_whole_history(length: int, window: int) -> None:
    train = Interactions.from_events(cyclic_world(n_users=20, n_items=500, length=length))
    settled = settle(TrainConfig(valid_scoring="A", max_len=0), train)
    assert settled.config.window == window
    assert settled.reasons == (
        f"max_len {window}: 90% of users have at most {length} training events (the smallest of 50, 100, 200 "
        "that holds them)",
    )
    assert settle(TrainConfig(max_len=7), train).config.window == 7
    assert settle(TrainConfig(valid_scoring="A"), train).config.window == 50  # the default window is kept
    with pytest.raises(ConfigError, match="max_len is still 0"):
        _ = TrainConfig(max_len=0).window
    with pytest.raises(ConfigError, match="max_len must be at least 1"):
        TrainConfig(max_len=-1)
