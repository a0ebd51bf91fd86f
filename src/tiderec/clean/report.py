"""What cleaning did: rows in and out, and per rule the rows removed (or kept apart) with examples."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from tiderec.ingest.report import MAX_EXAMPLES, IngestReport


@dataclass(frozen=True)
class RuleResult:
    """One rule's effect: rows removed from the events (kept_apart of them saved as negative feedback)."""

    rule: str
    rows_removed: int
    kept_apart: int = 0
    detail: str = ""
    examples: tuple[dict[str, str | None], ...] = ()
    rows_after: int = 0
    users_after: int = 0

    @classmethod
    def of(cls, rule: str, removed: pl.DataFrame, kept_apart: bool = False, detail: str = "") -> RuleResult:
        examples = tuple(
            {k: None if v is None else str(v) for k, v in row.items() if not k.startswith("_")}
            for row in removed.head(MAX_EXAMPLES).iter_rows(named=True)
        )
        n = removed.height
        return cls(rule, n, n if kept_apart else 0, detail, examples)

    def after(self, frame: pl.DataFrame) -> RuleResult:
        """This result with the rows and users left once the rule has run."""
        return replace(self, rows_after=frame.height, users_after=frame["user_id"].drop_nulls().n_unique())


@dataclass(frozen=True)
class CleaningReport:
    """Rows/users/items before and after, each rule's result in order, and the ingest report it follows."""

    rows_in: int
    rows_out: int
    users_in: int
    users_out: int
    items_in: int
    items_out: int
    sessions: int
    rules: tuple[RuleResult, ...]
    config: dict[str, Any]
    ingest: IngestReport | None = None

    def removed(self, rule: str) -> int:
        """Rows removed by `rule` (0 if it did not run)."""
        return sum(r.rows_removed for r in self.rules if r.rule == rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "users_in": self.users_in,
            "users_out": self.users_out,
            "items_in": self.items_in,
            "items_out": self.items_out,
            "sessions": self.sessions,
            "rules": [
                {
                    "rule": r.rule,
                    "rows_removed": r.rows_removed,
                    "kept_apart": r.kept_apart,
                    "detail": r.detail,
                    "examples": list(r.examples),
                    "rows_after": r.rows_after,
                    "users_after": r.users_after,
                }
                for r in self.rules
            ],
            "config": self.config,
            "ingest": None if self.ingest is None else self.ingest.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleaningReport:
        return cls(
            rows_in=int(data["rows_in"]),
            rows_out=int(data["rows_out"]),
            users_in=int(data["users_in"]),
            users_out=int(data["users_out"]),
            items_in=int(data["items_in"]),
            items_out=int(data["items_out"]),
            sessions=int(data["sessions"]),
            rules=tuple(
                RuleResult(
                    r["rule"],
                    int(r["rows_removed"]),
                    int(r["kept_apart"]),
                    r["detail"],
                    tuple(r["examples"]),
                    int(r["rows_after"]),
                    int(r["users_after"]),
                )
                for r in data["rules"]
            ),
            config=dict(data["config"]),
            ingest=None if data.get("ingest") is None else IngestReport.from_dict(data["ingest"]),
        )

    def to_markdown(self) -> str:
        lines = [] if self.ingest is None else [self.ingest.to_markdown()]
        lines += [
            "## Cleaning",
            "",
            f"Rows: {self.rows_in:,} -> {self.rows_out:,}; users: {self.users_in:,} -> {self.users_out:,}; "
            f"items: {self.items_in:,} -> {self.items_out:,}; sessions: {self.sessions:,}",
            "",
            "| rule | rows removed | kept apart | rows left | users left | detail | first example |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        for r in self.rules:
            example = ", ".join(f"{k}={v}" for k, v in r.examples[0].items() if v is not None) if r.examples else ""
            lines.append(
                f"| {r.rule} | {r.rows_removed:,} | {r.kept_apart:,} | {r.rows_after:,} | {r.users_after:,} "
                f"| {r.detail} | {example.replace('|', '/')} |"
            )
        return "\n".join(lines) + "\n"
