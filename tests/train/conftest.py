"""The training tests' world: the cyclic synthetic log, cleaned once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiderec.clean.config import CleanConfig, KCore, Repeats
from tiderec.clean.pipeline import clean
from tiderec.clean.store import write_cleaned
from tiderec.testing.worlds import cyclic_world


@pytest.fixture(scope="module")
def cleaned_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world") / "cleaned"
    cfg = CleanConfig(k_core=KCore(1, 1), repeats=Repeats(action="keep"))
    write_cleaned(clean(cyclic_world(), config=cfg), folder)
    return folder
