from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tiderec.cli.main import cli
from tiderec.errors import DatasetError
from tiderec.evaluation.experiment import analyse

MIN = 60_000_000


def _logs() -> tuple[pl.DataFrame, pl.DataFrame]:
    exposures = pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u3", "u3", "u4", "u4"],
            "item_id": ["x", "y", "x", "x", "y", "x", "x"],
            "ts_us": [0, 0, 0, 0, 0, 0, 0],
            "variant": ["A", "A", "A", "B", "B", "A", "B"],
        }
    )
    outcomes = pl.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u3", "u3", "u4"],
            "item_id": ["x", "x", "y", "x", "x", "x"],
            "ts_us": [10 * MIN, 120 * MIN, 5 * MIN, 7 * MIN, -1, 1 * MIN],
            "event_type": ["view", "view", "view", "view", "view", "purchase"],
        }
    )
    return exposures, outcomes


def test_rates_and_lift_by_hand() -> None:
    exposures, outcomes = _logs()
    report = analyse(exposures, outcomes, "A", window_minutes=60, metrics=("view",), n_boot=200)
    assert report.mixed_users == 1
    assert report.users == {"A": 2, "B": 1}
    assert report.srm_p == pytest.approx(0.5637, abs=1e-3)
    rows = {r.variant: r for r in report.rows}
    assert (rows["A"].exposures, rows["A"].conversions) == (3, 1)
    assert (rows["B"].exposures, rows["B"].conversions) == (2, 2)
    assert rows["B"].lift == pytest.approx(1.0 / (1 / 3) - 1)
    assert rows["A"].lift == 0.0
    assert "| view | B | 1 | 2 | 2 |" in report.markdown()


def test_missing_columns_and_unknown_control() -> None:
    exposures, outcomes = _logs()
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['variant'\]"):
        analyse(exposures.drop("variant"), outcomes, "A")
    with pytest.raises(DatasetError, match="control variant 'C' not found"):
        analyse(exposures, outcomes, "C")


def test_experiment_report_command(tmp_path: Path) -> None:
    exposures, outcomes = _logs()
    exposures.write_parquet(tmp_path / "exp.parquet")
    outcomes.write_ndjson(tmp_path / "out.jsonl")
    result = CliRunner().invoke(
        cli,
        ["experiment", "report", "--exposures", str(tmp_path / "exp.parquet"), "--outcomes",
         str(tmp_path / "out.jsonl"), "--control", "A", "--metric", "view", "--output", str(tmp_path / "r.md")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "+200.0%" in result.output
    assert (tmp_path / "r.json").is_file()
    bad = CliRunner().invoke(
        cli, ["experiment", "report", "--exposures", str(tmp_path / "exp.parquet"), "--outcomes",
              str(tmp_path / "out.txt"), "--control", "A"],
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "unsupported outcomes file type" in bad.output


def test_intervals_do_not_depend_on_row_order() -> None:
    exposures, outcomes = _logs()
    a = analyse(exposures, outcomes, "A", metrics=("view",), n_boot=300, seed=1)
    b = analyse(exposures.reverse(), outcomes.reverse(), "A", metrics=("view",), n_boot=300, seed=1)
    assert a.rows == b.rows
