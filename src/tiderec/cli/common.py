"""Helpers shared by the CLI commands: KEY=VALUE flags and TOML-typed values."""

from __future__ import annotations

import tomllib
from typing import Any

from tiderec.errors import ConfigError


def pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rhs = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {value!r}: expected FIELD=VALUE")
        out[key.strip()] = rhs
    return out


def toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
