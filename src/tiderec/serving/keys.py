"""API keys with scopes, stored as keyed hashes (never in clear), checked in constant time; user ids are
pseudonymised at rest with the same server secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from tiderec.storage import Database

SCOPES = ("ingest", "read", "admin")


@dataclass(frozen=True)
class Key:
    name: str
    scopes: frozenset[str]


class KeyStore:
    """Keys in the service's database: name, HMAC-SHA256(secret, key), scopes."""

    def __init__(self, db: Database, secret: bytes) -> None:
        self.db, self._secret = db, secret
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
        return key

    def check(self, key: str | None) -> Key | None:
        """The key's record, or None; every stored hash is compared (constant time per comparison)."""
        if not key:
            return None
        presented = self._hash(key)
        found: Key | None = None
        for name, stored, scopes in self.db.query("SELECT name, hash, scopes FROM api_keys"):
            if hmac.compare_digest(presented, stored):
                found = Key(name, frozenset(scopes.split(",")))
        return found


def pseudonym(secret: bytes, user_id: str) -> str:
    """The at-rest id of a user: HMAC-SHA256(secret, 'user' + id), hex (not reversible without the secret)."""
    return hmac.new(secret, b"user\x1f" + user_id.encode(), hashlib.sha256).hexdigest()[:32]
