"""Histories for any client: JSON Lines `{"user_id": ..., "history": [{"item_id", "ts", "event_type"}, ...]}`
(time order; ts as ISO 8601 or epoch seconds, event_type optional), indexed against an item vocabulary.
Unknown items are skipped and counted; each kept event remembers its index in the given history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tiderec.clean.vocab import Vocabulary
from tiderec.data.sequences import SequenceArrays, event_gaps, gap_bucket
from tiderec.errors import BadRow, BadRowError
from tiderec.types import EVENT_TYPES


@dataclass
class ReadReport:
    """What reading histories met: events, unknown items skipped, malformed lines skipped (with skip_bad)."""

    events: int = 0
    unknown_items: int = 0
    bad_lines: list[BadRow] = field(default_factory=list)


@dataclass(frozen=True)
class History:
    """One input line: known items only, in the given order, each with its index in the line's history."""

    user_id: str
    items: np.ndarray  # int64 item indices (known items only)
    event_types: np.ndarray  # int64 type indices
    ts: np.ndarray  # int64 microseconds
    positions: np.ndarray  # int64 index of each kept event in the given history


def _micros(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        return int(value * 1_000_000)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if text.replace(".", "", 1).isdigit():
            return int(float(text) * 1_000_000)
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1_000_000)
    raise ValueError(f"not a time: {value!r}")


def read_histories(
    path: Path, item_vocab: Vocabulary, report: ReadReport, skip_bad: bool, default_type: str = "view"
) -> Iterator[History]:
    """Parse and index histories line by line; malformed lines raise (or are counted with skip_bad)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                history = _parse(raw, item_vocab, report, default_type)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                row = BadRow(
                    str(path), number, None, "bad history line", "a JSON object with user_id and history", str(exc)
                )
                if not skip_bad:
                    raise BadRowError(row) from None
                report.bad_lines.append(row)
                continue
            yield history


def _parse(raw: bytes, item_vocab: Vocabulary, report: ReadReport, default_type: str) -> History:
    line = json.loads(raw.decode("utf-8"))
    if not isinstance(line, dict) or "user_id" not in line or not isinstance(line.get("history"), list):
        raise ValueError("expected {'user_id': ..., 'history': [...]}")
    items: list[int] = []
    types: list[int] = []
    ts: list[int] = []
    positions: list[int] = []
    for position, event in enumerate(line["history"]):
        if not isinstance(event, dict) or "item_id" not in event:
            raise ValueError("each history entry needs an item_id")
        kind = str(event.get("event_type") or default_type)
        if kind not in EVENT_TYPES:
            raise ValueError(f"unknown event_type {kind!r}; expected one of {list(EVENT_TYPES)}")
        report.events += 1
        index = item_vocab.index_of(str(event["item_id"]))
        if index is None:
            report.unknown_items += 1
            continue
        items.append(index)
        types.append(EVENT_TYPES.index(kind))
        ts.append(_micros(event["ts"]) if event.get("ts") is not None else len(ts))
        positions.append(position)
    return History(
        str(line["user_id"]),
        np.asarray(items, np.int64),
        np.asarray(types, np.int64),
        np.asarray(ts, np.int64),
        np.asarray(positions, np.int64),
    )


def arrays_of(histories: list[History], max_len: int, now_us: int | None = None) -> SequenceArrays:
    """Left-padded model input for each history (the gap to 'now' defaults to zero seconds)."""
    out = SequenceArrays.empty(len(histories), max_len)
    for k, h in enumerate(histories):
        length = min(len(h.items), max_len)
        if length == 0:
            continue
        gaps = event_gaps(h.ts)
        following = np.append(h.ts[1:], now_us if now_us is not None else h.ts[-1])
        out.items[k, -length:] = h.items[-length:] + 1
        out.event_types[k, -length:] = h.event_types[-length:] + 1
        out.gaps[k, -length:] = gaps[-length:]
        out.next_gaps[k, -length:] = gap_bucket(following - h.ts)[-length:]
    return out
