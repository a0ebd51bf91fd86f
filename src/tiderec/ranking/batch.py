"""Batch recommendation for any client: JSON Lines histories in, top-k items with scores out.

Input line: {"user_id": ..., "history": [{"item_id": ..., "ts": ..., "event_type": ...}, ...]} (time order;
ts as ISO 8601 or epoch seconds, event_type optional). Unknown items are skipped and counted; a history with
no known item falls back to popularity. Output line: {"user_id": ..., "items": [...], "scores": [...]}.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from tiderec.data.sequences import SequenceArrays, event_gaps, gap_bucket
from tiderec.errors import BadRow, BadRowError, DatasetError
from tiderec.metrics import top_k
from tiderec.models.scorer import TorchScorer
from tiderec.train.checkpoint import SavedModel
from tiderec.types import EVENT_TYPES


@dataclass
class BatchReport:
    users: int = 0
    events: int = 0
    unknown_items: int = 0
    popularity_fallbacks: int = 0
    bad_lines: list[BadRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "events": self.events,
            "unknown_items_skipped": self.unknown_items,
            "popularity_fallbacks": self.popularity_fallbacks,
            "bad_lines": [b.describe() for b in self.bad_lines[:5]],
            "bad_lines_total": len(self.bad_lines),
        }


@dataclass(frozen=True)
class History:
    user_id: str
    items: np.ndarray  # int64 item indices (known items only)
    event_types: np.ndarray  # int64 type indices
    ts: np.ndarray  # int64 microseconds


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
            from datetime import UTC

            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1_000_000)
    raise ValueError(f"not a time: {value!r}")


def read_histories(path: Path, saved: SavedModel, report: BatchReport, skip_bad: bool) -> Iterator[History]:
    """Parse and index histories line by line; malformed lines raise (or are counted with skip_bad)."""
    default_type = str(saved.manifest.get("default_event_type", "view"))
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                history = _parse(raw, saved, report, default_type)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                row = BadRow(
                    str(path), number, None, "bad history line", "a JSON object with user_id and history", str(exc)
                )
                if not skip_bad:
                    raise BadRowError(row) from None
                report.bad_lines.append(row)
                continue
            yield history


def _parse(raw: bytes, saved: SavedModel, report: BatchReport, default_type: str) -> History:
    line = json.loads(raw.decode("utf-8"))
    if not isinstance(line, dict) or "user_id" not in line or not isinstance(line.get("history"), list):
        raise ValueError("expected {'user_id': ..., 'history': [...]}")
    items: list[int] = []
    types: list[int] = []
    ts: list[int] = []
    for event in line["history"]:
        if not isinstance(event, dict) or "item_id" not in event:
            raise ValueError("each history entry needs an item_id")
        kind = str(event.get("event_type") or default_type)
        if kind not in EVENT_TYPES:
            raise ValueError(f"unknown event_type {kind!r}; expected one of {list(EVENT_TYPES)}")
        report.events += 1
        index = saved.item_vocab.index_of(str(event["item_id"]))
        if index is None:
            report.unknown_items += 1
            continue
        items.append(index)
        types.append(EVENT_TYPES.index(kind))
        ts.append(_micros(event["ts"]) if event.get("ts") is not None else len(ts))
    return History(
        str(line["user_id"]), np.asarray(items, np.int64), np.asarray(types, np.int64), np.asarray(ts, np.int64)
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


ListChooser = Callable[[History, np.ndarray], tuple[np.ndarray, dict[str, list[Any]]]]
"""(history, scores float[n_items], -inf = excluded) -> (served item indices in order, extra output fields of
the same length, e.g. propensities): how an exploration policy takes over from the plain top-k."""


def recommend_file(
    saved: SavedModel,
    input_path: Path,
    output: TextIO,
    k: int,
    exclude_seen: bool = False,
    batch_size: int = 256,
    skip_bad: bool = False,
    choose: ListChooser | None = None,
) -> BatchReport:
    """Stream histories from `input_path` and write one recommendation line per user to `output` (the top-k,
    or the list `choose` serves from the scores)."""
    if k < 1:
        raise DatasetError(f"k must be >= 1, got {k}")
    if not input_path.is_file():
        raise DatasetError(f"{input_path}: no such file")
    report = BatchReport()
    scorer = TorchScorer(saved.model_name, saved.model)
    max_len = int(saved.manifest["max_len"])
    batch: list[History] = []

    def flush() -> None:
        scores = scorer.score(arrays_of(batch, max_len))
        for row, history in enumerate(batch):
            if history.items.size == 0:
                scores[row] = saved.popularity
                report.popularity_fallbacks += 1
            elif exclude_seen:
                scores[row, history.items] = -np.inf
        best = top_k(scores, k)
        for row, history in enumerate(batch):
            served, extra = (best[row], {}) if choose is None else choose(history, scores[row])
            ids = saved.item_vocab.ids.gather(served).to_list()
            values = [round(float(v), 5) for v in scores[row, served]]
            line = {"user_id": history.user_id, "items": ids, "scores": values} | extra
            output.write(json.dumps(line, ensure_ascii=False) + "\n")
        report.users += len(batch)
        batch.clear()

    for history in read_histories(input_path, saved, report, skip_bad):
        batch.append(history)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report
