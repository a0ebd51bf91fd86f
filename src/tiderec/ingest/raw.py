"""Read the requested columns of a CSV / Parquet / JSONL file, keeping track of source line numbers.

CSV and JSONL columns come back as UTF-8 strings (validated), Parquet columns in their stored types; rows
that cannot be parsed (wrong column count, invalid JSON or UTF-8) are rejected with file and line, or stop
the read. Typing the values is `convert`'s job.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from tiderec.errors import BadRow, BadRowError, DatasetError
from tiderec.ingest.mapping import ReadOptions
from tiderec.ingest.report import RejectLog

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
BLOCK_SIZE = 1 << 22


@dataclass(frozen=True)
class RawTable:
    """Columns as read, the line (CSV/JSONL) or row (Parquet) number of each kept row, and rejections."""

    path: str
    frame: pl.DataFrame
    lines: np.ndarray  # int64[n_rows]: 1-based record number (CSV/JSONL line, Parquet row) of each kept row
    rows_read: int
    rejects: RejectLog
    notes: tuple[str, ...] = ()
    physical: Callable[[int], int] | None = None  # record number -> first physical line (multiline CSV)

    def line_of(self, index: int) -> int:
        """The source line of kept row `index` (where a multiline record starts)."""
        record = int(self.lines[index])
        return record if self.physical is None else self.physical(record)

    @classmethod
    def from_frame(cls, path: str, frame: pl.DataFrame) -> RawTable:
        """Wrap an already-loaded table (e.g. from an R data file); rows are numbered from 1."""
        lines = np.arange(1, frame.height + 1, dtype=np.int64)
        return cls(path, frame, lines, frame.height, RejectLog())


def detect_format(path: Path, requested: str) -> str:
    """'csv', 'parquet' or 'jsonl' from the option, else from the file name (compression suffix ignored)."""
    if requested != "auto":
        return requested
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in COMPRESSIONS]
    last = suffixes[-1] if suffixes else ""
    formats = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
    formats |= {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
    if last not in formats:
        raise DatasetError(f"{path}: cannot tell the format from the name; pass --format csv|parquet|jsonl")
    return formats[last]


def read_raw(path: Path, columns: Sequence[str], options: ReadOptions) -> RawTable:
    """Read `columns` of `path` (format from options or file name); see module docstring."""
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory, expected a file")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: file is empty")
    fmt = detect_format(path, options.format)
    if fmt == "parquet":
        return _read_parquet(path, columns)
    if fmt == "jsonl":
        return _read_jsonl(path, columns, options)
    return _read_csv(path, columns, options)


def _missing_columns(path: Path, wanted: Sequence[str], present: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DatasetError(f"{path}: column(s) {missing} not found; the file has {list(present)}")


def _open(path: Path, progress: bool, desc: str) -> tuple[BinaryIO, tqdm[Any]]:
    """Open a (possibly compressed) file as a byte stream, with a progress bar over the bytes on disk."""
    bar = tqdm(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        desc=desc,
        disable=None if progress else True,
        leave=False,
    )
    raw = _CountingReader(path.open("rb"), bar)
    codec = COMPRESSIONS.get(path.suffix.lower())
    stream = cast(BinaryIO, raw if codec is None else pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), codec))
    return stream, bar


class _CountingReader(io.RawIOBase):
    """A read-only file wrapper that advances a progress bar by the bytes read."""

    def __init__(self, inner: BinaryIO, bar: tqdm[Any]) -> None:
        self._inner = inner
        self._bar = bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._inner.readinto(buffer)  # type: ignore[attr-defined]
        self._bar.update(n)
        return int(n)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _read_prefix(path: Path, size: int = 1 << 16) -> bytes:
    codec = COMPRESSIONS.get(path.suffix.lower())
    with pa.input_stream(str(path), compression=codec) as stream:
        return bytes(stream.read(size))


def _header(path: Path, options: ReadOptions) -> list[str]:
    prefix = _read_prefix(path)
    if not prefix.strip():
        raise DatasetError(f"{path}: file is empty")
    if not options.has_header:
        if not options.column_names:
            raise DatasetError(f"{path}: has_header is false, so column_names must be given")
        return list(options.column_names)
    first = prefix.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRowError(BadRow(str(path), 1, None, "invalid UTF-8 in header", "UTF-8 text")) from exc
    names = next(csv.reader([text], delimiter=options.delimiter, quotechar=options.quote_char))
    if options.column_names:
        if len(options.column_names) != len(names):
            raise DatasetError(
                f"{path}: column_names has {len(options.column_names)} names, the header has {len(names)}"
            )
        return list(options.column_names)
    return names


def _read_csv(path: Path, columns: Sequence[str], options: ReadOptions) -> RawTable:
    names = _header(path, options)
    _missing_columns(path, columns, names)
    bad: list[tuple[int, int, str]] = []  # (record number, fields found, text)

    def on_invalid(row: Any) -> str:
        bad.append((int(row.number) if row.number is not None else -1, int(row.actual_columns), row.text))
        return "skip"

    read_opts = pacsv.ReadOptions(
        use_threads=False,
        block_size=BLOCK_SIZE,
        column_names=names,
        skip_rows=1 if options.has_header else 0,
    )
    parse_opts = pacsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote_char,
        newlines_in_values=options.multiline,
        invalid_row_handler=on_invalid,
    )
    convert_opts = pacsv.ConvertOptions(
        column_types={c: pa.binary() for c in columns},
        include_columns=list(columns),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    stream, bar = _open(path, options.progress, f"reading {path.name}")
    try:
        reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts)
        batches = list(reader)
    except pa.ArrowInvalid as exc:
        raise DatasetError(f"{path}: not readable as CSV: {str(exc).splitlines()[0]}") from None
    finally:
        bar.close()
        stream.close()
    table = pa.Table.from_batches(batches, schema=reader.schema)
    offset = 1 if options.has_header else 0
    rejects = RejectLog()
    notes: list[str] = []
    records_total = table.num_rows + len(bad)
    if records_total == 0:
        raise DatasetError(f"{path}: no data rows" + (" (only a header)" if options.has_header else ""))
    dropped = [number for number, _, _ in bad]
    if bad and options.allow_truncated_last_line:
        number, found, text = bad[-1]
        if number == records_total + offset and found < len(names):
            bad.pop()
            rejects.add(BadRow(str(path), number, None, "truncated last line", f"{len(names)} fields", text))
            notes.append(f"{path.name}: dropped a truncated last line ({found} of {len(names)} fields)")
    bad_rows = [
        BadRow(str(path), number, None, "wrong number of fields", f"{len(names)} fields, found {found}", text)
        for number, found, text in bad
    ]
    physical = _PhysicalLines(path, options) if options.multiline else None
    if physical is not None:
        bad_rows = [replace(b, line=physical(b.line)) if b.line is not None else b for b in bad_rows]
    rejects.reject_or_raise(bad_rows, options.skip_bad_rows)
    lines = _kept_record_numbers(table.num_rows, dropped, offset)
    raw = RawTable(str(path), pl.DataFrame(), lines, records_total, rejects, tuple(notes), physical)
    return _utf8_columns(raw, table, options.skip_bad_rows)


def _kept_record_numbers(n_kept: int, dropped: list[int], offset: int) -> np.ndarray:
    """1-based record numbers of the kept rows, given the record numbers of the dropped ones."""
    total = n_kept + len(dropped)
    numbers = np.arange(1 + offset, total + 1 + offset, dtype=np.int64)
    if dropped:
        numbers = numbers[~np.isin(numbers, np.asarray(dropped, dtype=np.int64))]
    return numbers


class _PhysicalLines:
    """Record number -> physical line where it starts, scanned once on first use (only errors need it)."""

    def __init__(self, path: Path, options: ReadOptions) -> None:
        self._path = path
        self._options = options
        self._starts: list[int] = []

    def __call__(self, record: int) -> int:
        if not self._starts:
            self._starts = [0]
            stream, bar = _open(self._path, False, "")
            with io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="") as text:
                reader = csv.reader(text, delimiter=self._options.delimiter, quotechar=self._options.quote_char)
                previous_end = 0
                for _ in reader:
                    self._starts.append(previous_end + 1)
                    previous_end = reader.line_num
            bar.close()
        return self._starts[record] if 0 <= record < len(self._starts) else record


def _utf8_columns(raw: RawTable, table: pa.Table, skip: bool) -> RawTable:
    """Binary columns -> UTF-8 string columns; rows holding invalid UTF-8 are rejected (or stop the read)."""
    keep = np.ones(table.num_rows, dtype=bool)
    bad_rows: list[BadRow] = []
    for name in table.column_names:
        column = table.column(name)
        try:
            column.cast(pa.string())
            continue
        except pa.ArrowInvalid:
            pass
        for i, value in enumerate(column.to_pylist()):
            if value is None or not keep[i]:
                continue
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                keep[i] = False
                shown = value.decode("utf-8", errors="replace")
                bad_rows.append(BadRow(raw.path, raw.line_of(i), name, "invalid UTF-8", "UTF-8 text", shown))
    raw.rejects.reject_or_raise(bad_rows, skip)
    lines = raw.lines
    if not keep.all():
        table = table.filter(pa.array(keep))
        lines = lines[keep]
    frame = pl.from_arrow(pa.table({n: table.column(n).cast(pa.string()) for n in table.column_names}))
    assert isinstance(frame, pl.DataFrame)
    return replace(raw, frame=frame, lines=lines)


def _read_parquet(path: Path, columns: Sequence[str]) -> RawTable:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"{path}: not a Parquet file: {str(exc).splitlines()[0]}") from None
    _missing_columns(path, columns, schema.names)
    table = pq.read_table(path, columns=list(columns))
    if table.num_rows == 0:
        raise DatasetError(f"{path}: no rows")
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return RawTable(str(path), frame, lines, table.num_rows, RejectLog())


def _read_jsonl(path: Path, columns: Sequence[str], options: ReadOptions) -> RawTable:
    """JSON Lines, one object per line; values become strings (objects/arrays are rejected)."""
    values: dict[str, list[str | None]] = {c: [] for c in columns}
    lines: list[int] = []
    bad: list[BadRow] = []
    seen: set[str] = set()
    rows_read = 0
    stream, bar = _open(path, options.progress, f"reading {path.name}")
    try:
        for number, raw_line in enumerate(stream, start=1):
            if not raw_line.strip():
                continue
            rows_read += 1
            row = _parse_json_line(str(path), number, raw_line, columns, bad)
            if row is None:
                continue
            seen.update(row)
            for c in columns:
                values[c].append(_json_scalar(row.get(c)))
            lines.append(number)
    finally:
        bar.close()
        stream.close()
    if rows_read == 0:
        raise DatasetError(f"{path}: file is empty")
    if lines:
        unseen = [c for c in columns if c not in seen]
        if unseen:
            raise DatasetError(f"{path}: field(s) {unseen} never appear; fields present: {sorted(seen)}")
    rejects = RejectLog()
    rejects.reject_or_raise(bad, options.skip_bad_rows)
    frame = pl.DataFrame({c: pl.Series(c, values[c], dtype=pl.String) for c in columns})
    return RawTable(str(path), frame, np.asarray(lines, dtype=np.int64), rows_read, rejects)


def _parse_json_line(
    path: str, number: int, raw_line: bytes, columns: Sequence[str], bad: list[BadRow]
) -> dict[str, Any] | None:
    try:
        text = raw_line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        bad.append(BadRow(path, number, None, "invalid UTF-8", "UTF-8 text"))
        return None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        bad.append(BadRow(path, number, None, f"invalid JSON ({exc.msg} at column {exc.colno})", "a JSON object"))
        return None
    if not isinstance(row, dict):
        bad.append(BadRow(path, number, None, "not a JSON object", "a JSON object", text.strip()))
        return None
    for c in columns:
        if isinstance(row.get(c), dict | list):
            bad.append(BadRow(path, number, c, "nested value", "a string, number or null", json.dumps(row[c])))
            return None
    return row


def _json_scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
