"""Errors a user can act on: each renders as one line naming what was wrong and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


class TiderecError(Exception):
    """Base class for expected, user-facing failures (bad input, bad config); the CLI prints them in one line."""


class ConfigError(TiderecError):
    """A configuration value or key is invalid."""


class DatasetError(TiderecError):
    """A dataset file or directory is missing, empty or of the wrong shape."""


class StorageError(TiderecError):
    """The database cannot serve right now (unreachable, restarting, out of space); the same call may succeed
    later. `retry_after` is a hint in seconds for clients (HTTP 503 with Retry-After)."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestError(TiderecError):
    """A request or a log handed to a component (candidates, k, propensities, action sets) is malformed."""


@dataclass(frozen=True)
class BadRow:
    """One malformed input row: where it is and what was expected there."""

    path: str
    line: int | None
    column: str | None
    reason: str
    expected: str
    value: str | None = None

    def describe(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        col = f" column {self.column!r}" if self.column is not None else ""
        got = "" if self.value is None else f", got {_clip(self.value)!r}"
        return f"{where}:{col} {self.reason}: expected {self.expected}{got}"


class BadRowError(TiderecError):
    """A malformed row stopped the run (use skip_bad_rows to count and skip such rows instead)."""

    def __init__(self, row: BadRow) -> None:
        super().__init__(row.describe() + " (pass --skip-bad-rows to count and skip such rows)")
        self.row = row


def _clip(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
