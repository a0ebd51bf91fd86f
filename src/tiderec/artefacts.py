"""Artefact folders: written whole into a temporary sibling, then swapped in, with a manifest.json that
says what kind of artefact the folder holds. Each stage owns the files inside its folders."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tiderec.errors import DatasetError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def package_version() -> str:
    try:
        return version("tiderec")
    except PackageNotFoundError:
        return "unknown"


@contextmanager
def writing(out: Path, kind: str, fields: dict[str, Any]) -> Iterator[Path]:
    """Yield a fresh temporary folder to fill; on success it replaces `out` (manifest added)."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        manifest = {
            "kind": kind,
            "format_version": FORMAT_VERSION,
            "tiderec_version": package_version(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **fields,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(new: Path, out: Path) -> None:
    if not out.exists():
        new.rename(out)
        return
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    out.rename(old)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(folder: Path, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The manifest of an artefact folder; one-line errors for a missing folder or a wrong kind."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder")
    if not path.is_file():
        raise DatasetError(f"{folder}: not a tiderec artefact folder (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON: {exc}") from None
    if kinds is not None and manifest.get("kind") not in kinds:
        raise DatasetError(f"{folder}: holds a {manifest.get('kind')!r} artefact, expected one of {list(kinds)}")
    return dict(manifest)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def read_json(path: Path, parse: Callable[[Any], Any] = lambda x: x) -> Any:
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    return parse(json.loads(path.read_text(encoding="utf-8")))
