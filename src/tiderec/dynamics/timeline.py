"""Interest timelines: per time window (day, week or month, chosen by the data's span) a user's top interests,
named in words, with their share of the window's type-weighted events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np

from tiderec.data.space import InterestSpace
from tiderec.types import DAY_US

Granularity = Literal["day", "week", "month"]


@dataclass(frozen=True)
class Window:
    """One window: its start (UTC), the number of events and the top interests as (label, share)."""

    start: datetime
    events: int
    interests: list[tuple[str, float]]


@dataclass(frozen=True)
class Timeline:
    user_id: str
    granularity: Granularity
    windows: list[Window]

    def render(self) -> str:
        """A plain-text table, one window per line."""
        if not self.windows:
            return f"{self.user_id}: no events"
        lines = [f"{self.user_id}: interests per {self.granularity}"]
        for w in self.windows:
            top = ", ".join(f"{label} {share:.0%}" for label, share in w.interests)
            lines.append(f"  {w.start.date().isoformat()}  {w.events:>4} events  {top}")
        return "\n".join(lines)


def granularity_for(span_us: int) -> Granularity:
    """Days for spans under two weeks, weeks under ~four months, else months."""
    if span_us < 14 * DAY_US:
        return "day"
    return "week" if span_us < 120 * DAY_US else "month"


def window_start(ts_us: int, granularity: Granularity) -> datetime:
    t = datetime.fromtimestamp(ts_us / 1e6, UTC)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def timeline(
    user_id: str,
    items: np.ndarray,
    ts_us: np.ndarray,
    weights: np.ndarray,
    space: InterestSpace,
    granularity: Granularity | None = None,
    top: int = 3,
) -> Timeline:
    """items int64[n] (-1 unknown), ts_us int64[n], weights float[n] (event-type weights) of one user."""
    if len(items) == 0:
        return Timeline(user_id, granularity or "day", [])
    gran = granularity or granularity_for(int(ts_us.max() - ts_us.min()))
    starts = [window_start(int(t), gran) for t in ts_us]
    windows: list[Window] = []
    for start in sorted(set(starts)):
        mask = np.array([s == start for s in starts])
        codes = np.where(items[mask] >= 0, space.codes[np.maximum(items[mask], 0)], -1)
        w = weights[mask]
        known = codes >= 0
        totals: dict[int, float] = {}
        for c, v in zip(codes[known].tolist(), w[known].tolist(), strict=True):
            totals[c] = totals.get(c, 0.0) + v
        mass = sum(totals.values())
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        windows.append(Window(start, int(mask.sum()), [(space.label(c), v / mass) for c, v in ranked]))
    return Timeline(user_id, gran, windows)
