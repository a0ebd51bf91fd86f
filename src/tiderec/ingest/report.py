"""What reading a source kept and rejected, with counts and a few located examples per reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from tiderec.errors import BadRow, BadRowError

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Rejection:
    """Rows dropped for one reason: how many and where the first few were."""

    reason: str
    count: int
    examples: tuple[BadRow, ...]


@dataclass(frozen=True)
class IngestReport:
    """Rows read from each source, rows kept, and rejections by reason (rows_read == rows_kept + rejected)."""

    sources: tuple[str, ...]
    rows_read: int
    rows_kept: int
    rejections: tuple[Rejection, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def rows_rejected(self) -> int:
        return sum(r.count for r in self.rejections)

    def merge(self, other: IngestReport) -> IngestReport:
        """Combine the reports of two reads (e.g. events file and items file) into one."""
        log = RejectLog()
        for rej in (*self.rejections, *other.rejections):
            log.add_many(rej.reason, rej.count, rej.examples)
        return IngestReport(
            sources=self.sources + other.sources,
            rows_read=self.rows_read + other.rows_read,
            rows_kept=self.rows_kept + other.rows_kept,
            rejections=log.rejections(),
            notes=self.notes + other.notes,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_rejected": self.rows_rejected,
            "rejections": [
                {"reason": r.reason, "count": r.count, "examples": [asdict(e) for e in r.examples]}
                for r in self.rejections
            ],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestReport:
        return cls(
            sources=tuple(data["sources"]),
            rows_read=int(data["rows_read"]),
            rows_kept=int(data["rows_kept"]),
            rejections=tuple(
                Rejection(r["reason"], int(r["count"]), tuple(BadRow(**e) for e in r["examples"]))
                for r in data["rejections"]
            ),
            notes=tuple(data.get("notes", ())),
        )

    def to_markdown(self) -> str:
        lines = [
            "## Ingest",
            "",
            f"Sources: {', '.join(self.sources)}",
            "",
            f"Rows read: {self.rows_read:,}; kept: {self.rows_kept:,}; rejected: {self.rows_rejected:,}",
        ]
        if self.rejections:
            lines += ["", "| reason | rows | first example |", "|---|---:|---|"]
            for r in self.rejections:
                example = r.examples[0].describe() if r.examples else ""
                lines.append(f"| {r.reason} | {r.count:,} | {example.replace('|', '/')} |")
        lines += [f"\nNote: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


@dataclass
class RejectLog:
    """Mutable collector used while reading; frozen into `Rejection`s at the end."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[BadRow]] = field(default_factory=dict)

    def add(self, row: BadRow) -> None:
        self.add_many(row.reason, 1, (row,))

    def add_many(self, reason: str, count: int, examples: Iterable[BadRow]) -> None:
        if count <= 0:
            return
        self.counts[reason] = self.counts.get(reason, 0) + count
        kept = self.examples.setdefault(reason, [])
        for ex in examples:
            if len(kept) >= MAX_EXAMPLES:
                break
            kept.append(ex)

    def reject_or_raise(self, rows: list[BadRow], skip: bool) -> None:
        """Count `rows` as rejections when skipping bad rows, else stop at the first one (lowest line)."""
        if not rows:
            return
        if not skip:
            raise BadRowError(min(rows, key=lambda r: r.line if r.line is not None else 0))
        for row in rows:
            self.add(row)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def rejections(self) -> tuple[Rejection, ...]:
        return tuple(Rejection(r, c, tuple(self.examples.get(r, ()))) for r, c in self.counts.items())
