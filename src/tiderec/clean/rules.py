"""The cleaning rules, each a pure function: events frame (time-ordered, with a `_row` order column) ->
(kept rows, what was removed and why). `pipeline.clean` applies them in order."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from tiderec.clean.config import Bots, Duplicates, KCore, Negatives, Repeats, Sessions, TimeWindow
from tiderec.clean.report import RuleResult

ORDER = "_row"
"""Column holding each event's position in time order (ties: input order); per-user order sorts on it."""


def _split(frame: pl.DataFrame, drop: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    marked = frame.with_columns(_drop=drop.fill_null(False))
    return marked.filter(~pl.col("_drop")).drop("_drop"), marked.filter(pl.col("_drop")).drop("_drop")


MISSING_CHECKS: tuple[tuple[str, pl.Expr], ...] = (
    ("missing user_id", pl.col("user_id").is_null()),
    ("missing ts", pl.col("ts").is_null()),
    ("missing event_type", pl.col("event_type").is_null()),
    ("missing item_id", pl.col("item_id").is_null() & (pl.col("event_type") != "search")),
)
"""Rows without a user, a time, an event type, or an item (search events may lack an item)."""


def drop_missing(frame: pl.DataFrame, rule: str, missing: pl.Expr) -> tuple[pl.DataFrame, RuleResult]:
    frame, removed = _split(frame, missing)
    return frame, RuleResult.of(rule, removed)


def time_window(frame: pl.DataFrame, cfg: TimeWindow) -> tuple[pl.DataFrame, RuleResult]:
    start, end = _utc(cfg.start), _utc(cfg.end)
    outside = pl.lit(False)
    if start is not None:
        outside = outside | (pl.col("ts") < start)
    if end is not None:
        outside = outside | (pl.col("ts") >= end)
    frame, removed = _split(frame, outside)
    detail = f"window [{start}, {end})" if start or end else "no window configured"
    return frame, RuleResult.of("outside time window", removed, detail=detail)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def negatives(frame: pl.DataFrame, cfg: Negatives) -> tuple[pl.DataFrame, pl.DataFrame, list[RuleResult]]:
    """Split off cancellations and non-positive values; returns (kept, negative feedback, results with
    the rows left after each)."""
    apart = cfg.action == "keep_apart"
    parts: list[pl.DataFrame] = []
    results = []
    if cfg.cancellation_prefix:
        frame, removed = _split(frame, pl.col("basket_id").str.starts_with(cfg.cancellation_prefix))
        detail = f"basket_id starts with {cfg.cancellation_prefix!r}; {cfg.action}"
        results.append(RuleResult.of("cancellation", removed, apart, detail).after(frame))
        parts.append(removed)
    if cfg.non_positive_value:
        frame, removed = _split(frame, pl.col("value") <= 0)
        results.append(RuleResult.of("non-positive value", removed, apart, f"value <= 0; {cfg.action}").after(frame))
        parts.append(removed)
    kept_apart = pl.concat(parts) if parts and apart else frame.clear()
    return frame, kept_apart.sort(ORDER), results


def duplicates(frame: pl.DataFrame, cfg: Duplicates) -> tuple[pl.DataFrame, RuleResult]:
    if not cfg.enabled:
        return frame, RuleResult.of("duplicate", frame.clear(), detail="disabled")
    keys = list(cfg.keys)
    frame, removed = _split(frame, ~pl.struct(keys).is_first_distinct())
    return frame, RuleResult.of("duplicate", removed, detail=f"same {', '.join(keys)}; first kept")


def bots(frame: pl.DataFrame, cfg: Bots) -> tuple[pl.DataFrame, RuleResult]:
    """Remove all events of users whose event rate or volume looks automated."""
    flagged: pl.Series = pl.Series("user_id", [], dtype=pl.String)
    details = []
    if cfg.max_events is not None:
        k = cfg.max_events
        instants = frame.select("user_id", "ts").unique(maintain_order=True).sort("user_id", "ts")
        burst = instants.with_columns(span=pl.col("ts") - pl.col("ts").shift(k).over("user_id")).filter(
            pl.col("span") < cfg.window
        )
        flagged = pl.concat([flagged, burst["user_id"].unique()])
        details.append(f"> {k} instants within {cfg.window}")
    if cfg.max_total is not None:
        counts = frame.group_by("user_id").len().filter(pl.col("len") > cfg.max_total)
        flagged = pl.concat([flagged, counts["user_id"]])
        details.append(f"> {cfg.max_total} events in total")
    flagged = flagged.unique()
    frame, removed = _split(frame, pl.col("user_id").is_in(flagged.implode()))
    detail = f"{flagged.len()} users: " + (" or ".join(details) if details else "disabled")
    return frame, RuleResult.of("bot-like user", removed, detail=detail)


def repeats(frame: pl.DataFrame, cfg: Repeats) -> tuple[pl.DataFrame, RuleResult]:
    if cfg.action == "keep":
        return frame, RuleResult.of("consecutive repeat", frame.clear(), detail="kept")
    keys = list(cfg.keys)
    ordered = frame.sort("user_id", ORDER)
    same = pl.col("user_id") == pl.col("user_id").shift(1)
    for key in keys:
        same = same & pl.col(key).eq_missing(pl.col(key).shift(1))
    kept, removed = _split(ordered, same)
    return kept.sort(ORDER), RuleResult.of("consecutive repeat", removed.sort(ORDER), detail=f"same {', '.join(keys)}")


def k_core(frame: pl.DataFrame, cfg: KCore) -> tuple[pl.DataFrame, RuleResult]:
    """Iterate until every user has >= min_user events and every item >= min_item events."""
    start = frame
    rounds = 0
    while True:
        small = (pl.len().over("user_id") < cfg.min_user) | (
            (pl.len().over("item_id") < cfg.min_item) & pl.col("item_id").is_not_null()
        )
        marked = frame.with_columns(_drop=small)
        if not marked["_drop"].any():
            break
        frame = marked.filter(~pl.col("_drop")).drop("_drop")
        rounds += 1
    removed = start.join(frame.select(ORDER), on=ORDER, how="anti")
    return frame, RuleResult.of(
        "k-core", removed, detail=f"users >= {cfg.min_user}, items >= {cfg.min_item}; {rounds} rounds"
    )


def sessions(frame: pl.DataFrame, cfg: Sessions) -> pl.DataFrame:
    """Assign session ids '<user_id>/<n>' (n from 1 per user) by inactivity gap, or keep/clear them."""
    if cfg.mode == "source":
        return frame
    if cfg.mode == "none":
        return frame.with_columns(session_id=pl.lit(None, dtype=pl.String))
    ordered = frame.sort("user_id", ORDER)
    new = (pl.col("user_id") != pl.col("user_id").shift(1)).fill_null(True) | (
        (pl.col("ts") - pl.col("ts").shift(1)) > cfg.gap
    )
    number = new.cast(pl.UInt32).cum_sum().over("user_id")
    ordered = ordered.with_columns(session_id=pl.concat_str([pl.col("user_id"), number.cast(pl.String)], separator="/"))
    return ordered.sort(ORDER)
