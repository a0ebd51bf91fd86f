"""Typed, frozen configs: validated from dicts/TOML/JSON (unknown keys rejected), dumped back losslessly.

Every component keeps its settings in one frozen dataclass that sets
`__pydantic_config__ = ConfigDict(extra="forbid")`; this module is the one way to load and save them.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import ConfigDict, TypeAdapter, ValidationError

from tiderec.errors import ConfigError

T = TypeVar("T")

STRICT = ConfigDict(extra="forbid", arbitrary_types_allowed=False)
"""The pydantic config every settings dataclass uses: unknown keys are errors."""


def from_dict(cls: type[T], data: Mapping[str, Any], what: str | None = None) -> T:
    """Validate `data` into `cls`; raise ConfigError naming the key, the problem and the valid keys."""
    label = what or cls.__name__
    try:
        return TypeAdapter(cls).validate_python(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"{label}: {_describe(cls, exc)}") from None


def to_dict(obj: object) -> dict[str, Any]:
    """JSON/TOML-ready dict of a config dataclass (None values dropped, so TOML can hold them)."""
    data = TypeAdapter(type(obj)).dump_python(obj, mode="json")
    if not isinstance(data, dict):
        raise TypeError(f"{type(obj).__name__} is not a config dataclass")
    cleaned: dict[str, Any] = _drop_none(data)
    return cleaned


def with_changes(obj: T, changes: Mapping[str, Any]) -> T:
    """A copy of a config with dotted-key overrides (`{"k_core.min_user": 3}`), validated as a whole."""
    data = to_dict(obj)
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[leaf] = value
    return from_dict(type(obj), data)


def load(cls: type[T], path: Path, section: str | None = None) -> T:
    """Read a config from a .toml or .json file (optionally one top-level table of it)."""
    data = read_mapping(path)
    if section is not None:
        sub = data.get(section, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        data = sub
    return from_dict(cls, data, what=str(path) + (f" [{section}]" if section else ""))


def read_mapping(path: Path) -> dict[str, Any]:
    """Parse a TOML or JSON file into a dict, with a one-line error for a missing or unparsable file."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(f"{path}: expected a .toml or .json config file")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/object at the top level")
    return data


def dump(obj: object, path: Path) -> None:
    """Write a config as TOML or JSON (by suffix)."""
    data = to_dict(obj)
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        path.write_text(tomli_w.dumps(data), encoding="utf-8")


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _describe(cls: type[Any], exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            parts.append(f"unknown key {loc!r}; valid keys: {_valid_keys(cls, err['loc'][:-1])}")
        else:
            parts.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _valid_keys(cls: type[Any], parents: tuple[Any, ...]) -> list[str]:
    target: Any = cls
    for part in parents:
        if not (isinstance(target, type) and dataclasses.is_dataclass(target)):
            return []
        target = typing.get_type_hints(target).get(str(part))
    if not (isinstance(target, type) and dataclasses.is_dataclass(target)):
        return []
    return [f.name for f in dataclasses.fields(target)]


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when available, else 'cpu'; 'cuda' without a CUDA device is a one-line error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA device is available")
    return device
