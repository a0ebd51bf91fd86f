from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tiderec import config as configs
from tiderec.clean.config import Bots, CleanConfig, KCore, TimeWindow
from tiderec.errors import ConfigError


def test_unknown_key_is_rejected_with_the_valid_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'k_core.min_users'; valid keys: \['min_user', 'min_item'\]"):
        configs.from_dict(CleanConfig, {"k_core": {"min_users": 3}})


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"k_core.min_user: .*integer"):
        configs.from_dict(CleanConfig, {"k_core": {"min_user": "many"}})


def test_constraint_violation_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"k_core\.min_user"):
        configs.from_dict(CleanConfig, {"k_core": {"min_user": 0}})


def test_unknown_column_in_keys_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"duplicates\.keys"):
        configs.from_dict(CleanConfig, {"duplicates": {"keys": ["user_id", "colour"]}})


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_round_trip_through_files(tmp_path: Path, suffix: str) -> None:
    cst = timezone(timedelta(hours=8))
    cfg = CleanConfig(
        time_window=TimeWindow(start=datetime(2017, 11, 25, tzinfo=cst), end=datetime(2017, 12, 4, tzinfo=UTC)),
        bots=Bots(max_events=10, window=timedelta(seconds=30), max_total=None),
        k_core=KCore(min_user=3, min_item=2),
    )
    path = tmp_path / f"clean{suffix}"
    configs.dump(cfg, path)
    back = configs.load(CleanConfig, path)
    assert back == cfg


def test_with_changes_validates_dotted_overrides() -> None:
    cfg = configs.with_changes(CleanConfig(), {"k_core.min_user": 3, "sessions.gap": "PT10M"})
    assert cfg.k_core.min_user == 3
    assert cfg.sessions.gap == timedelta(minutes=10)
    with pytest.raises(ConfigError, match="unknown key"):
        configs.with_changes(CleanConfig(), {"k_core.nope": 1})


def test_unparsable_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("k_core = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        configs.load(CleanConfig, path)
