"""Cleaning settings: one frozen table per rule, applied in the order the fields appear here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Literal, get_args

from annotated_types import Ge

from tiderec.config import STRICT

EventColumn = Literal["user_id", "item_id", "ts", "event_type", "value", "session_id", "basket_id", "text"]
ALL_EVENT_COLUMNS: tuple[EventColumn, ...] = get_args(EventColumn)
PositiveInt = Annotated[int, Ge(1)]


@dataclass(frozen=True)
class TimeWindow:
    """Keep events with start <= ts < end (naive datetimes are read as UTC); None = open."""

    __pydantic_config__ = STRICT

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Negatives:
    """Negative feedback: cancellations (basket id starts with the prefix) and non-positive values.

    "keep_apart" moves them to a separate table (negatives.parquet); "drop" discards them; both count them.
    """

    __pydantic_config__ = STRICT

    cancellation_prefix: str | None = None
    non_positive_value: bool = True
    action: Literal["keep_apart", "drop"] = "keep_apart"


@dataclass(frozen=True)
class Duplicates:
    """Rows equal on `keys` are duplicates; the first in time order (ties: input order) is kept."""

    __pydantic_config__ = STRICT

    keys: tuple[EventColumn, ...] = ALL_EVENT_COLUMNS
    enabled: bool = True


@dataclass(frozen=True)
class Bots:
    """A user is bot-like when more than `max_events` distinct instants fall inside any `window`,
    or when they have more than `max_total` events; all their events are removed."""

    __pydantic_config__ = STRICT

    max_events: PositiveInt | None = 60
    window: timedelta = timedelta(minutes=1)
    max_total: PositiveInt | None = None


@dataclass(frozen=True)
class Repeats:
    """An event equal on `keys` to the same user's previous event is a consecutive repeat."""

    __pydantic_config__ = STRICT

    action: Literal["drop", "keep"] = "drop"
    keys: tuple[EventColumn, ...] = ("item_id", "event_type")


@dataclass(frozen=True)
class KCore:
    """Iteratively keep users with >= min_user events and items with >= min_item events."""

    __pydantic_config__ = STRICT

    min_user: PositiveInt = 5
    min_item: PositiveInt = 5


@dataclass(frozen=True)
class Sessions:
    """'gap': a new session after `gap` of inactivity; 'source': keep given session ids; 'none': leave empty."""

    __pydantic_config__ = STRICT

    mode: Literal["gap", "source", "none"] = "gap"
    gap: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class CleanConfig:
    """All cleaning rules, applied in this order: missing values, time window, negatives, duplicates, bots,
    consecutive repeats, k-core, sessions."""

    __pydantic_config__ = STRICT

    time_window: TimeWindow = field(default_factory=TimeWindow)
    negatives: Negatives = field(default_factory=Negatives)
    duplicates: Duplicates = field(default_factory=Duplicates)
    bots: Bots = field(default_factory=Bots)
    repeats: Repeats = field(default_factory=Repeats)
    k_core: KCore = field(default_factory=KCore)
    sessions: Sessions = field(default_factory=Sessions)
