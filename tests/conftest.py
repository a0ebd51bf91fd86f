"""Shared fixtures: where the real data lives, and small builders for event tables."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tiderec.types import Events

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO.parent / "shared" / "data").resolve()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` run only where CUDA is available."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """../shared/data beside the checkout; the suite fails loudly (not skips) when it is missing."""
    if not DATA.is_dir():
        pytest.fail(f"real data not found at {DATA}: tiderec's tests read ../shared/data beside the checkout")
    return DATA


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEREC_DATA", str(DATA))


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def events(rows: Sequence[tuple[object, ...]], columns: tuple[str, ...] = ("user_id", "item_id", "ts")) -> Events:
    """Events from tuples; `ts` may be minutes after T0 (int) or a datetime; event_type defaults to view."""
    frame = pl.DataFrame([dict(zip(columns, r, strict=True)) for r in rows])
    if "ts" in frame.columns and frame["ts"].dtype.is_integer():
        frame = frame.with_columns(ts=pl.lit(T0) + pl.duration(minutes=pl.col("ts")))
    if "event_type" not in frame.columns:
        frame = frame.with_columns(event_type=pl.lit("view"))
    for c in ("user_id", "item_id", "basket_id", "session_id"):
        if c in frame.columns:
            frame = frame.with_columns(pl.col(c).cast(pl.String))
    return Events.from_frame(frame)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One local Ray cluster for the whole test session (starting one costs seconds)."""
    from tiderec.cluster import RayConfig, connect

    ray = connect(RayConfig(num_cpus=2))
    yield
    ray.shutdown()


POSTGRES = REPO / "scripts" / "postgres.sh"


@dataclass(frozen=True)
class PostgresCluster:
    """A PostgreSQL cluster started by scripts/postgres.sh in `folder` (Unix socket only), reachable at `url`."""

    folder: Path
    url: str

    def start(self) -> None:
        _postgres("start", self.folder)

    def stop(self) -> None:
        """Stop it (fast shutdown: open connections are cut, as in a database restart)."""
        _postgres("stop", self.folder)


def _postgres(command: str, folder: Path) -> str:
    done = subprocess.run([str(POSTGRES), command, str(folder)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/postgres.sh {command} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def _own_cluster() -> Iterator[PostgresCluster]:
    """A cluster in a new folder; skipped, saying why, where the script cannot start one (no PostgreSQL and no
    root to install it)."""
    folder = Path(tempfile.mkdtemp(prefix="tiderec-pg-"))
    try:
        url = _postgres("start", folder)
    except RuntimeError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc}")
    try:
        yield PostgresCluster(folder, url)
    finally:
        subprocess.run([str(POSTGRES), "stop", str(folder)], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A running PostgreSQL cluster of the suite's own (scripts/postgres.sh), shared by the session."""
    with _own_cluster() as cluster:
        yield cluster.url


@pytest.fixture
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of one test's own, which the test may stop and start again."""
    with _own_cluster() as cluster:
        yield cluster
