"""Dataset statistics: counts, time span, sparsity, events per user/item, event-type mix, sessions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tiderec.types import Events


@dataclass(frozen=True)
class Distribution:
    """Summary of a count distribution (events per user, per item, per session)."""

    min: float
    p25: float
    median: float
    mean: float
    p75: float
    p90: float
    max: float

    @classmethod
    def of(cls, counts: pl.Series) -> Distribution:
        if counts.len() == 0:
            return cls(0, 0, 0, 0, 0, 0, 0)

        def q(x: float) -> float:
            return float(counts.quantile(x, interpolation="nearest") or 0)

        return cls(
            float(counts.min() or 0),  # type: ignore[arg-type]
            q(0.25),
            q(0.5),
            round(float(counts.mean() or 0), 2),  # type: ignore[arg-type]
            q(0.75),
            q(0.9),
            float(counts.max() or 0),  # type: ignore[arg-type]
        )

    def render(self) -> str:
        return (
            f"min {self.min:g} · p25 {self.p25:g} · median {self.median:g} · mean {self.mean:g} · "
            f"p75 {self.p75:g} · p90 {self.p90:g} · max {self.max:g}"
        )


@dataclass(frozen=True)
class DatasetStats:
    """What `tiderec stats` prints; `time_is_order` marks data whose timestamps are only an order."""

    source: str
    events: int
    users: int
    items: int
    first_event: str | None
    last_event: str | None
    span_days: float | None
    time_is_order: bool
    sparsity: float
    per_user: Distribution
    per_item: Distribution
    event_types: dict[str, int]
    sessions: int
    per_session: Distribution | None
    missing: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        lines = [
            f"source        {self.source}",
            f"events        {self.events:,}",
            f"users         {self.users:,}",
            f"items         {self.items:,}",
        ]
        if self.time_is_order:
            lines.append("time span     (timestamps are only an order in this dataset)")
        elif self.first_event is not None:
            lines.append(f"time span     {self.first_event} .. {self.last_event} ({self.span_days:.1f} days)")
        lines += [
            f"sparsity      {self.sparsity:.6f} (share of user x item pairs never seen)",
            f"per user      {self.per_user.render()}",
            f"per item      {self.per_item.render()}",
            "event types   "
            + ", ".join(f"{k} {v:,} ({v / max(self.events, 1):.1%})" for k, v in self.event_types.items() if v),
        ]
        if self.per_session is not None:
            lines.append(f"sessions      {self.sessions:,}; events per session: {self.per_session.render()}")
        absent = {k: v for k, v in self.missing.items() if v}
        if absent:
            lines.append("missing       " + ", ".join(f"{k} {v:,}" for k, v in absent.items()))
        return "\n".join(lines)


def _utc(micros: object) -> datetime:
    assert isinstance(micros, int)
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def describe(events: Events) -> DatasetStats:
    """Statistics of an events table (raw or cleaned); a row with a missing id is left out of the counts
    that need that id, and counted under `missing`."""
    frame = events.frame
    missing = {c: int(frame[c].null_count()) for c in ("user_id", "item_id", "ts")}
    valid = frame.filter(pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null())
    users = frame["user_id"].drop_nulls().n_unique()
    items = frame["item_id"].drop_nulls().n_unique()
    pairs = valid.select("user_id", "item_id").n_unique() if valid.height else 0
    micros = frame["ts"].drop_nulls().dt.epoch("us")
    first = _utc(micros.min()) if micros.len() else None
    last = _utc(micros.max()) if micros.len() else None
    span = (last - first).total_seconds() / 86400 if first is not None and last is not None else None
    type_counts = dict(frame.group_by("event_type").len().sort("event_type").iter_rows())
    sessions = valid.filter(pl.col("session_id").is_not_null())
    per_session = Distribution.of(sessions.group_by("session_id").len()["len"]) if sessions.height else None
    return DatasetStats(
        source=events.meta.get("source", "unknown"),
        events=frame.height,
        users=users,
        items=items,
        first_event=None if first is None else str(first),
        last_event=None if last is None else str(last),
        span_days=None if span is None else round(span, 2),
        time_is_order=events.meta.get("time") == "order",
        sparsity=1.0 - pairs / (users * items) if users and items else 1.0,
        per_user=Distribution.of(frame.drop_nulls("user_id").group_by("user_id").len()["len"]),
        per_item=Distribution.of(frame.drop_nulls("item_id").group_by("item_id").len()["len"]),
        event_types={str(k): int(v) for k, v in type_counts.items()},
        sessions=sessions["session_id"].n_unique() if sessions.height else 0,
        per_session=per_session,
        missing=missing,
    )
