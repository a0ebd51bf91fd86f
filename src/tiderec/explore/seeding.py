"""Per-request seeds: the same (policy seed, request parts) always gives the same served list."""

from __future__ import annotations

import hashlib


def request_seed(base: int, *parts: str | int) -> int:
    """A 64-bit seed from a base seed and request identifiers (user id, request id, ...), stable across
    processes and Python versions (blake2b, not `hash`)."""
    key = base.to_bytes(16, "little", signed=True)
    blob = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(blob, key=key, digest_size=8).digest(), "little")
