"""Raw columns -> typed `Events`/`Items` columns, locating every value that does not parse.

Each converter returns the typed series (null where the input was empty) and a boolean mask of values that
were present but malformed; `convert_events`/`convert_items` turn those into located rejections or an error.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from tiderec.errors import BadRow, ConfigError
from tiderec.ingest.language import detect_language
from tiderec.ingest.mapping import EventMapping, ItemMapping
from tiderec.ingest.raw import RawTable
from tiderec.types import EVENT_TYPES, TS_DTYPE, Events, Items

_NUMERIC = re.compile(r"^\s*-?\d+(\.\d*)?([eE][-+]?\d+)?\s*$")
_EPOCH_UNITS = {"unix_s": "s", "unix_ms": "ms", "unix_us": "us", "order": "s"}
ORDER_FORMAT = "order"
"""ts_format for a column that only orders events (a rank): stored as seconds since the epoch, and the
table is marked meta['time'] = 'order' so that no rule reads durations into it."""


@dataclass(frozen=True)
class Parsed:
    """A typed column and the mask of rows whose value was present but not parsable."""

    series: pl.Series
    bad: pl.Series
    reason: str
    expected: str


def _blank_to_null(s: pl.Series) -> pl.Series:
    if s.dtype != pl.String:
        return s
    stripped = s.str.strip_chars()
    return stripped.set(stripped == "", None) if stripped.len() else stripped


def parse_id(s: pl.Series) -> Parsed:
    """Ids as strings; whole-number floats (pandas-exported ids such as 17850.0) lose their '.0'."""
    if s.dtype.is_float():
        whole = s.is_not_null() & (s == s.round())
        as_int = s.cast(pl.Int64, strict=False).cast(pl.String)
        out = pl.select(pl.when(whole).then(as_int).otherwise(s.cast(pl.String))).to_series()
    else:
        out = _blank_to_null(s.cast(pl.String))
    return Parsed(out, pl.Series(np.zeros(len(s), dtype=bool)), "bad id", "an id")


def parse_text(s: pl.Series) -> Parsed:
    return Parsed(_blank_to_null(s.cast(pl.String)), pl.Series(np.zeros(len(s), dtype=bool)), "", "")


def parse_float(s: pl.Series) -> Parsed:
    if s.dtype.is_numeric():
        out = s.cast(pl.Float64)
        return Parsed(out, pl.Series(np.zeros(len(s), dtype=bool)), "", "")
    text = _blank_to_null(s.cast(pl.String))
    out = text.cast(pl.Float64, strict=False)
    return Parsed(out, text.is_not_null() & out.is_null(), "not a number", "a number")


def parse_time(s: pl.Series, fmt: str, timezone: str) -> Parsed:
    """Parse timestamps to UTC microseconds; naive values are read in `timezone`."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {timezone!r} (expected an IANA name such as 'UTC')") from None
    present = s.is_not_null()
    if s.dtype == pl.String:
        s = _blank_to_null(s)
        present = s.is_not_null()
    expected = _describe_format(fmt, s)
    if s.dtype.is_temporal():
        out = s.cast(pl.Datetime("us", s.dtype.time_zone if isinstance(s.dtype, pl.Datetime) else None))
    elif fmt in _EPOCH_UNITS or s.dtype.is_numeric():
        out = _from_epoch(s, _EPOCH_UNITS.get(fmt))
    elif s.dtype == pl.String:
        out = _parse_text_time(s, fmt)
    else:
        raise ConfigError(f"cannot read timestamps from a {s.dtype} column with format {fmt!r}")
    out = _to_utc(out, timezone)
    return Parsed(out, present & out.is_null(), "unparsable timestamp", expected)


def _parse_text_time(s: pl.Series, fmt: str) -> pl.Series:
    """Text timestamps; with 'auto', all-digit values are epoch numbers and the rest ISO-like text."""
    if fmt != "auto":
        return _strptime(s, fmt)
    numeric = s.str.contains(_NUMERIC.pattern).fill_null(False)
    if not numeric.any():
        return _strptime(s, None)
    epoch = _from_epoch(s.set(~numeric, None), None)
    if numeric.all():
        return epoch
    text = _strptime(s.set(numeric, None), None)
    if text.dtype != epoch.dtype:
        text = text.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return epoch.fill_null(text)


def _strptime(s: pl.Series, fmt: str | None) -> pl.Series:
    try:
        return s.str.to_datetime(fmt, time_unit="us", strict=False)
    except pl.exceptions.ComputeError as exc:
        raise ConfigError(f"time format {fmt!r} is not usable: {str(exc).splitlines()[0]}") from None


def _from_epoch(s: pl.Series, unit: str | None) -> pl.Series:
    numbers = s.cast(pl.Float64, strict=False) if s.dtype == pl.String else s.cast(pl.Float64)
    if unit is None:
        magnitudes = numbers.abs().drop_nulls().to_numpy()
        median = float(np.median(magnitudes)) if magnitudes.size else 0.0
        unit = "s" if median < 1e11 else "ms" if median < 1e14 else "us"
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
    micros = (numbers * scale).round().cast(pl.Int64, strict=False)
    return micros.cast(pl.Datetime("us"))


def _to_utc(s: pl.Series, timezone: str) -> pl.Series:
    assert isinstance(s.dtype, pl.Datetime)
    if s.dtype.time_zone is None:
        s = s.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return s.dt.convert_time_zone("UTC").cast(TS_DTYPE)


def _describe_format(fmt: str, s: pl.Series) -> str:
    if fmt == ORDER_FORMAT:
        return "a number giving the event's order"
    if fmt in _EPOCH_UNITS:
        return f"a number of {_EPOCH_UNITS[fmt]} since 1970-01-01"
    if fmt != "auto":
        return f"a timestamp in format {fmt!r}"
    first = s.drop_nulls().head(1).to_list()
    like = f" like {first[0]!r}" if first else ""
    return f"a timestamp{like} (ISO 8601 or epoch seconds)"


def parse_event_type(s: pl.Series, values: Mapping[str, str]) -> Parsed:
    """Map source labels to event types: `values` first, then the canonical names in any case."""
    lookup = {name: name for name in EVENT_TYPES} | {k.strip().lower(): v for k, v in values.items()}
    text = _blank_to_null(s.cast(pl.String))
    exact = text.replace_strict(dict(values), default=None, return_dtype=pl.String) if values else None
    folded = text.str.to_lowercase().replace_strict(lookup, default=None, return_dtype=pl.String)
    out = folded if exact is None else exact.fill_null(folded)
    valid = sorted({*values, *EVENT_TYPES})
    return Parsed(out, out.is_null(), "unknown event type", f"one of {valid}")


def parse_list(s: pl.Series, separator: str) -> Parsed:
    text = _blank_to_null(s.cast(pl.String))
    parts = (
        text.str.split(separator)
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    return Parsed(parts, pl.Series(np.zeros(len(s), dtype=bool)), "", "")


def _collect_bad(raw: RawTable, fields: Mapping[str, tuple[str, Parsed]], skip: bool) -> np.ndarray:
    """Reject rows with any malformed value (or raise for the first one); return the keep mask."""
    keep = np.ones(raw.frame.height, dtype=bool)
    bad_rows: list[BadRow] = []
    for column, parsed in fields.values():
        bad = parsed.bad.to_numpy() & keep
        if not bad.any():
            continue
        source = raw.frame[column]
        for i in np.flatnonzero(bad):
            value = source[int(i)]
            bad_rows.append(BadRow(raw.path, raw.line_of(int(i)), column, parsed.reason, parsed.expected, str(value)))
        keep &= ~bad
    raw.rejects.reject_or_raise(bad_rows, skip)
    return keep


def convert_events(raw: RawTable, mapping: EventMapping, skip_bad_rows: bool, meta: Mapping[str, str]) -> Events:
    """Typed Events from a raw table read with `mapping`'s columns."""
    cols = mapping.columns()
    parsed: dict[str, tuple[str, Parsed]] = {}
    for name, column in cols.items():
        s = raw.frame[column]
        if name in ("user_id", "item_id", "session_id", "basket_id"):
            parsed[name] = (column, parse_id(s))
        elif name == "ts":
            parsed[name] = (column, parse_time(s, mapping.ts_format, mapping.timezone))
        elif name == "event_type":
            parsed[name] = (column, parse_event_type(s, mapping.event_type_values))
        elif name == "value":
            parsed[name] = (column, parse_float(s))
        else:
            parsed[name] = (column, parse_text(s))
    if "event_type" not in cols and mapping.event_type_constant is None:
        raise ConfigError("event mapping: give either event_type (a column) or event_type_constant")
    keep = _collect_bad(raw, parsed, skip_bad_rows)
    frame = pl.DataFrame({name: p.series for name, (_, p) in parsed.items()})
    if mapping.ts_format == ORDER_FORMAT:
        meta = {**meta, "time": "order"}
    if "event_type" not in cols:
        frame = frame.with_columns(pl.lit(mapping.event_type_constant).alias("event_type"))
    if not keep.all():
        frame = frame.filter(pl.Series(keep))
    return Events.from_frame(frame, meta)


def convert_items(raw: RawTable, mapping: ItemMapping, skip_bad_rows: bool, meta: Mapping[str, str]) -> Items:
    """Typed Items; later rows repeating an item id are counted and dropped (the first is kept)."""
    parsed: dict[str, tuple[str, Parsed]] = {}
    for name, column in mapping.columns().items():
        s = raw.frame[column]
        if name == "item_id":
            parsed[name] = (column, parse_id(s))
        elif name == "price":
            parsed[name] = (column, parse_float(s))
        elif name == "category":
            parsed[name] = (column, parse_list(s, mapping.category_separator))
        elif name == "attributes":
            parsed[name] = (column, parse_list(s, mapping.attributes_separator))
        else:
            parsed[name] = (column, parse_text(s))
    keep = _collect_bad(raw, parsed, skip_bad_rows)
    frame = pl.DataFrame({name: p.series for name, (_, p) in parsed.items()})
    frame = frame.with_columns(_line=pl.Series(raw.lines))
    if not keep.all():
        frame = frame.filter(pl.Series(keep))
    missing = frame.filter(pl.col("item_id").is_null())
    raw.rejects.add_many(
        "missing item id",
        missing.height,
        (BadRow(raw.path, line, mapping.item_id, "missing item id", "an id") for line in missing["_line"].head(5)),
    )
    frame = frame.filter(pl.col("item_id").is_not_null())
    dup = frame.filter(pl.col("item_id").is_duplicated() & ~pl.col("item_id").is_first_distinct())
    for row in dup.head(5).iter_rows(named=True):
        raw.rejects.add(
            BadRow(
                raw.path,
                row["_line"],
                mapping.item_id,
                "repeated item id",
                "one row per item",
                row["item_id"],
            )
        )
    if dup.height > 5:
        raw.rejects.add_many("repeated item id", dup.height - 5, ())
    frame = frame.unique("item_id", keep="first", maintain_order=True).drop("_line")
    if "language" not in frame.columns:
        frame = frame.with_columns(language=detect_language(frame))
    return Items.from_frame(frame, meta)
