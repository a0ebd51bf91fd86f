"""API keys with scopes, stored as keyed hashes (never in clear), checked in constant time; user ids are
pseudonymised at rest with the same server secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from tiderec.storage import Database

SCOPES = ("ingest", "read", "admin")


@dataclass(frozen=True)
class Key:
    name: str
    scopes: frozenset[str]


class KeyStore:
    """Keys in the service's database: name, HMAC-SHA256(secret, key), scopes. Checks read a copy of the table
    refreshed every `refresh_seconds` (keys created or replaced by another process count within that time)."""

    def __init__(self, db: Database, secret: bytes, refresh_seconds: float = 2.0) -> None:
        self.db, self._secret, self.refresh_seconds = db, secret, refresh_seconds
        self._rows: list[tuple[str, str, str]] = []
        self._read_at = -float("inf")
        db.execute(
            "CREATE TABLE IF NOT EXISTS api_keys (name TEXT PRIMARY KEY, hash TEXT NOT NULL, scopes TEXT NOT NULL)"
        )

    def _hash(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    def create(self, name: str, scopes: list[str]) -> str:
        """A new key (shown once) with the given scopes; an existing name is replaced."""
        unknown = set(scopes) - set(SCOPES)
        if unknown or not scopes:
            raise ValueError(f"scopes must be a non-empty subset of {SCOPES}, got {scopes}")
        key = "tr_" + secrets.token_urlsafe(24)
        self.db.execute(
            "INSERT INTO api_keys (name, hash, scopes) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET hash = excluded.hash, scopes = excluded.scopes",
            (name, self._hash(key), ",".join(sorted(scopes))),
        )
        self._read_at = -float("inf")
        return key

    def check(self, key: str | None) -> Key | None:
        """The key's record, or None; every stored hash is compared (constant time per comparison)."""
        if not key:
            return None
        now = time.monotonic()
        if now - self._read_at > self.refresh_seconds:
            self._rows = [(n, h, s) for n, h, s in self.db.query("SELECT name, hash, scopes FROM api_keys")]
            self._read_at = now
        presented = self._hash(key)
        found: Key | None = None
        for name, stored, scopes in self._rows:
            if hmac.compare_digest(presented, stored):
                found = Key(name, frozenset(scopes.split(",")))
        return found


def pseudonym(secret: bytes, user_id: str) -> str:
    """The at-rest id of a user: HMAC-SHA256(secret, 'user' + id), hex (not reversible without the secret)."""
    return hmac.new(secret, b"user\x1f" + user_id.encode(), hashlib.sha256).hexdigest()[:32]
