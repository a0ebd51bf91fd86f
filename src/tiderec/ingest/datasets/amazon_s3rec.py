"""Amazon review data in the S3-Rec form: one user per line, `uid iid iid ...`, items in time order.

Any category works (Beauty, Sports, Toys, ...); attributes come from `<name>_item2attributes.json` beside
the file when present. The form has no timestamps, only order: event k of a user gets ts = 1970-01-01 +
k seconds and the table is marked `time=order` so that nothing reads calendar meaning into it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from tiderec.errors import BadRow, DatasetError
from tiderec.ingest.mapping import ReadOptions
from tiderec.ingest.raw import COMPRESSIONS
from tiderec.ingest.report import IngestReport, RejectLog
from tiderec.ingest.tabular import Dataset
from tiderec.types import TS_DTYPE, Events, Items

NAME = "amazon-beauty"
DEFAULT_FILE = "amazon-beauty/Beauty.txt"


def looks_like(path: Path, lines: int = 20) -> bool:
    """Whether an uncompressed text file reads as this form: its first non-empty lines are each a user id and at
    least one item id, separated by white space only (no commas, semicolons, quotes or braces)."""
    if not path.is_file() or path.suffix.lower() in COMPRESSIONS or path.suffix.lower() not in ("", ".txt"):
        return False
    seen = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return False
            if any(c in text for c in ',;"{') or len(text.split()) < 2:
                return False
            seen += 1
            if seen >= lines:
                break
    return seen > 0


def load(path: Path, options: ReadOptions) -> Dataset:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    if path.suffix.lower() in COMPRESSIONS:
        raise DatasetError(f"{path}: expected an uncompressed S3-Rec .txt file")
    users: list[str] = []
    items: list[str] = []
    positions: list[int] = []
    rejects = RejectLog()
    bad: list[BadRow] = []
    rows_read = 0
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            rows_read += 1
            try:
                tokens = raw_line.decode("utf-8").split()
            except UnicodeDecodeError:
                bad.append(BadRow(str(path), number, None, "invalid UTF-8", "UTF-8 text"))
                continue
            if len(tokens) < 2:
                bad.append(
                    BadRow(
                        str(path),
                        number,
                        None,
                        "no items",
                        "a user id then item ids",
                        raw_line.decode("utf-8", "replace").strip(),
                    )
                )
                continue
            uid, seq = tokens[0], tokens[1:]
            users.extend([uid] * len(seq))
            items.extend(seq)
            positions.extend(range(len(seq)))
    if rows_read == 0:
        raise DatasetError(f"{path}: file is empty")
    rejects.reject_or_raise(bad, options.skip_bad_rows)
    meta = {
        "source": NAME if path.name == "Beauty.txt" else f"amazon-s3rec:{path.stem}",
        "time": "order",
        "file": str(path),
    }
    frame = pl.DataFrame(
        {
            "user_id": pl.Series(users, dtype=pl.String),
            "item_id": pl.Series(items, dtype=pl.String),
            "ts": pl.Series(np.asarray(positions, dtype=np.int64) * 1_000_000)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC")
            .cast(TS_DTYPE),
            "event_type": pl.Series(["review"] * len(items), dtype=pl.String),
        }
    )
    events = Events.from_frame(frame, meta)
    item_frame = _items(path, frame["item_id"].unique(maintain_order=True))
    report = IngestReport((str(path),), rows_read, rows_read - rejects.total, rejects.rejections())
    return Dataset(events, Items.from_frame(item_frame, meta), report)


def _items(path: Path, item_ids: pl.Series) -> pl.DataFrame:
    frame = pl.DataFrame({"item_id": item_ids, "language": ["und"] * item_ids.len()})
    attr_path = path.with_name(f"{path.stem}_item2attributes.json")
    if not attr_path.is_file():
        return frame
    try:
        mapping = json.loads(attr_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{attr_path}: not valid JSON: {exc}") from None
    if not isinstance(mapping, dict):
        raise DatasetError(f"{attr_path}: expected an object of item id -> list of attribute ids")
    attrs = pl.DataFrame(
        {
            "item_id": list(mapping),
            "attributes": [[str(a) for a in v] if isinstance(v, list) else [str(v)] for v in mapping.values()],
        },
        schema={"item_id": pl.String, "attributes": pl.List(pl.String)},
    )
    return frame.join(attrs, on="item_id", how="left")
