from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from tiderec.clean.config import CleanConfig, KCore, Repeats
from tiderec.clean.pipeline import clean
from tiderec.clean.store import write_cleaned
from tiderec.cli.main import cli
from tiderec.types import Events, Items

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _world(folder: Path) -> None:
    """Half the users browse running shoes only, half outdoor gear only."""
    rows = []
    for u in range(40):
        prefix = "r" if u % 2 else "o"
        rows += [(f"u{u}", f"{prefix}{(u + k) % 10}", T0 + timedelta(hours=u * 50 + k), "view") for k in range(30)]
    events = Events.from_frame(pl.DataFrame(rows, schema=["user_id", "item_id", "ts", "event_type"], orient="row"))
    items = Items.from_frame(
        pl.DataFrame(
            {
                "item_id": [f"r{i}" for i in range(10)] + [f"o{i}" for i in range(10)],
                "category": [["shoes", "running"]] * 10 + [["outdoor", "tents"]] * 10,
            }
        )
    )
    write_cleaned(clean(events, items, CleanConfig(k_core=KCore(1, 1), repeats=Repeats(action="keep"))), folder)


def test_migrations_command_locates_the_change_in_the_given_history(tmp_path: Path) -> None:
    _world(tmp_path / "cleaned")
    history = [{"item_id": f"r{k % 10}", "ts": 1_700_000_000 + k} for k in range(20)]
    history += [{"item_id": "never-seen", "ts": 1_700_000_020}]
    history += [{"item_id": f"o{k}", "ts": 1_700_000_021 + k} for k in range(10)]
    lines = [{"user_id": "mover", "history": history}, {"user_id": "stayer", "history": history[:20]}]
    (tmp_path / "h.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["migrations", "--data", str(tmp_path / "cleaned"), "--input", str(tmp_path / "h.jsonl"),
         "--output", str(tmp_path / "out.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    mover, stayer = (json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines())
    assert stayer == {"user_id": "stayer", "migrations": []}
    (change,) = mover["migrations"]
    assert change["at_index"] == 23
    assert change["ts"] == datetime.fromtimestamp(1_700_000_023, UTC).isoformat()
    assert change["from"] == [{"interest": "running", "share": 1.0}]
    assert change["to"] == [{"interest": "tents", "share": 1.0}]
    assert change["kind"] == "migration"
    assert 0 < change["confidence"] <= 1
    assert '"unknown_items_skipped": 1' in result.output
    bad = CliRunner().invoke(
        cli, ["migrations", "--data", str(tmp_path / "cleaned"), "--input", str(tmp_path / "h.jsonl"),
              "--set", "persist=0"],
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "persist" in bad.output


def test_migrations_command_with_a_detector_learned_from_the_data(tmp_path: Path) -> None:
    _world(tmp_path / "cleaned")
    history = [{"item_id": f"r{k % 10}", "ts": 1_700_000_000 + k} for k in range(20)]
    history += [{"item_id": f"o{k}", "ts": 1_700_000_020 + k} for k in range(10)]
    (tmp_path / "h.jsonl").write_text(json.dumps({"user_id": "mover", "history": history}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["migrations", "--data", str(tmp_path / "cleaned"), "--input", str(tmp_path / "h.jsonl"),
         "--set", 'detector="learned"'],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out, summary = result.stdout.splitlines()[0], json.loads(result.stderr.splitlines()[-1])
    (change,) = json.loads(out)["migrations"]
    assert 20 <= change["at_index"] < 30
    assert change["from"] == [{"interest": "running", "share": 1.0}]
    assert change["to"][0]["interest"] == "tents"
    assert set(summary["learned_detector"]) == {"threshold", "out_of_fold_f1", "out_of_fold_users_alarmed"}


def test_interests_command_prints_the_timeline_and_writes_the_plot(tmp_path: Path) -> None:
    _world(tmp_path / "cleaned")
    result = CliRunner().invoke(
        cli, ["interests", "u1", "--data", str(tmp_path / "cleaned"), "--html", str(tmp_path / "u1.html")]
    )
    assert result.exit_code == 0, result.output
    assert "u1: interests per day" in result.output
    assert "running 100%" in result.output
    page = (tmp_path / "u1.html").read_text(encoding="utf-8")
    assert "<svg" in page
    assert "running" in page
    unknown = CliRunner().invoke(cli, ["interests", "nobody", "--data", str(tmp_path / "cleaned")])
    assert unknown.exit_code == 0
    assert "nobody: no events" in unknown.output


def test_trends_command(tmp_path: Path) -> None:
    _world(tmp_path / "cleaned")
    result = CliRunner().invoke(cli, ["trends", "--data", str(tmp_path / "cleaned"), "--per", "week"])
    assert result.exit_code == 0, result.output
    assert "significant at q < 0.05" in result.output
    assert "backtest, last 8 weeks, WAPE: tiderec" in result.output


def test_report_command_writes_a_page_with_every_section(tmp_path: Path) -> None:
    _world(tmp_path / "cleaned")
    result = CliRunner().invoke(
        cli, ["report", "--data", str(tmp_path / "cleaned"), "--out", str(tmp_path / "r" / "report.html")]
    )
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    for section in ("summary", "timelines", "migrations", "trends", "short-term"):
        assert f"id='{section}'" in page
    assert page.count("<svg") >= 5
    assert "<polyline" in page
    assert "<script" not in page
    assert "<th>P(lasting)</th>" in page
    learned = CliRunner().invoke(
        cli, ["report", "--data", str(tmp_path / "cleaned"), "--out", str(tmp_path / "r" / "learned.html"),
              "--set", 'detector="learned"'],
    )  # fmt: skip
    assert learned.exit_code == 0, learned.output
    assert "id='migrations'" in (tmp_path / "r" / "learned.html").read_text(encoding="utf-8")
    bad = CliRunner().invoke(
        cli,
        ["report", "--data", str(tmp_path / "cleaned"), "--out", str(tmp_path / "bad.html"), "--set", "look_ahead=0"],
    )
    assert bad.exit_code == 2
    assert "look_ahead" in bad.output
