"""The CLI: happy paths, and one-line errors (exit 2, no traceback) for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tiderec.cli.main import cli

HEADER = "uid,sku,time,action\n"
MAPS = ("--map", "user_id=uid", "--map", "item_id=sku", "--map", "ts=time")
TYPE = ("--map", "event_type=action")


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    rows = [
        f"u{u},i{(u * 7 + k) % 9},2024-01-0{1 + k % 5} 1{k % 10}:00:00,{'view' if k % 3 else 'cart'}"
        for u in range(8)
        for k in range(8)
    ]
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_ingest_clean_stats_round_trip(tmp_path: Path, log: Path) -> None:
    result = invoke("ingest", "csv", log, "--out", tmp_path / "raw", *MAPS, *TYPE)
    assert result.exit_code == 0, result.output
    assert "ingested 64 events (8 users, 9 items)" in result.output
    result = invoke(
        "clean", tmp_path / "raw", "-o", tmp_path / "clean", "--set", "k_core.min_user=2", "--set", "k_core.min_item=2"
    )
    assert result.exit_code == 0, result.output
    assert "k-core" in result.output
    assert (tmp_path / "clean" / "cleaning_report.md").is_file()
    assert (tmp_path / "clean" / "users.vocab.parquet").is_file()
    result = invoke("stats", tmp_path / "clean", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["stats"]["users"] == 8
    assert data["cleaning"]["config"]["k_core"]["min_user"] == 2


def test_a_file_of_user_sequences_is_read_without_a_mapping(tmp_path: Path, log: Path) -> None:
    """`uid iid iid ...` per line (the S3-Rec form) with its attributes beside it: `tiderec ingest PATH` needs no
    source name and no flag; a CSV given the same way still needs its mapping."""
    (tmp_path / "Shop.txt").write_text("u1 a b c\nu2 b c d e\n\nu3 a d\n", encoding="utf-8")
    (tmp_path / "Shop_item2attributes.json").write_text('{"a": [1, 2], "b": [2]}', encoding="utf-8")
    result = invoke("ingest", tmp_path / "Shop.txt", "--out", tmp_path / "raw")
    assert result.exit_code == 0, result.output
    assert "ingested 9 events (3 users, 5 items)" in result.output
    result = invoke("stats", tmp_path / "raw", "--json")
    assert json.loads(result.output)["stats"]["events"] == 9
    assert "event mapping" in one_line_error(invoke("ingest", log, "--out", tmp_path / "csv"))


def test_clean_set_accepts_durations_and_saved_configs(tmp_path: Path, log: Path) -> None:
    invoke("ingest", "csv", log, "--out", tmp_path / "raw", *MAPS, *TYPE)
    result = invoke(
        "clean", tmp_path / "raw", "-o", tmp_path / "a", "--set", "sessions.gap=PT1M", "--set", "k_core.min_user=1"
    )
    assert result.exit_code == 0, result.output
    result = invoke("clean", tmp_path / "raw", "-o", tmp_path / "b", "--config", tmp_path / "a" / "clean_config.toml")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "events.parquet").read_bytes() == (tmp_path / "b" / "events.parquet").read_bytes()


def test_mapping_file_with_cli_override(tmp_path: Path, log: Path) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        '[events]\nuser_id = "uid"\nitem_id = "sku"\nts = "time"\nevent_type = "nope"\n', encoding="utf-8"
    )
    one_line_error(invoke("ingest", "csv", log, "--out", tmp_path / "o", "--mapping", mapping))
    result = invoke("ingest", "csv", log, "--out", tmp_path / "o", "--mapping", mapping, *TYPE)
    assert result.exit_code == 0, result.output


def test_bad_row_stops_with_location_or_is_skipped(tmp_path: Path, log: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(log.read_text(encoding="utf-8") + "u9,i1,not a time,view\n", encoding="utf-8")
    line = one_line_error(invoke("ingest", "csv", bad, "--out", tmp_path / "o", *MAPS, *TYPE))
    assert "bad.csv:66: column 'time' unparsable timestamp" in line
    assert "--skip-bad-rows" in line
    result = invoke("ingest", "csv", bad, "--out", tmp_path / "o", *MAPS, *TYPE, "--skip-bad-rows")
    assert result.exit_code == 0
    assert "unparsable timestamp: 1" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("ingest", "nosuch", "--out", "x"), "unknown source 'nosuch'"),
        (("ingest", "no/such.txt", "--out", "x"), "no/such.txt: no such file"),
        (("ingest", "csv", "--out", "x"), "give the events file PATH"),
        (("ingest", "online-retail", "--out", "x", "--map", "user_id=u"), "column mappings apply only"),
        (("clean", "missing-folder", "--out", "x"), "no such folder"),
        (("stats", "."), "not a tiderec artefact folder"),
    ],
)
def test_one_line_errors(args: tuple[str, ...], needle: str) -> None:
    assert needle in one_line_error(invoke(*args))


def test_missing_column_and_empty_file(tmp_path: Path, log: Path) -> None:
    line = one_line_error(
        invoke(
            "ingest",
            "csv",
            log,
            "-o",
            tmp_path / "o",
            "--map",
            "user_id=user",
            "--map",
            "ts=time",
            "--event-type",
            "view",
        )
    )
    assert "['user'] not found" in line
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    line = one_line_error(invoke("ingest", "csv", empty, "-o", tmp_path / "o", *MAPS, "--event-type", "view"))
    assert "file is empty" in line


def test_clean_rejects_unknown_preset_and_config_keys(tmp_path: Path, log: Path) -> None:
    invoke("ingest", "csv", log, "--out", tmp_path / "raw", *MAPS, *TYPE)
    line = one_line_error(invoke("clean", tmp_path / "raw", "--out", tmp_path / "c", "--preset", "nope"))
    assert "unknown cleaning preset 'nope'" in line
    line = one_line_error(invoke("clean", tmp_path / "raw", "--out", tmp_path / "c", "--set", "k_core.minimum=2"))
    assert "unknown key 'k_core.minimum'" in line
    assert not (tmp_path / "c").exists()


def test_a_failed_run_leaves_an_existing_output_untouched(tmp_path: Path, log: Path) -> None:
    assert invoke("ingest", "csv", log, "--out", tmp_path / "raw", *MAPS, *TYPE).exit_code == 0
    before = (tmp_path / "raw" / "events.parquet").read_bytes()
    one_line_error(invoke("ingest", "csv", log, "--out", tmp_path / "raw", *MAPS))
    assert (tmp_path / "raw" / "events.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "raw"]


def test_datasets_lists_adapters_and_presets() -> None:
    result = invoke("datasets")
    assert result.exit_code == 0
    assert "online-retail-5core" in result.output
    assert "cleaning presets:" in result.output


@pytest.mark.slow
def test_encode_is_incremental_and_find_searches_the_store(tmp_path: Path, log: Path) -> None:
    items = tmp_path / "items.csv"
    names = ["camping tent for two", "trail running shoes", "red cotton dress", "coffee mug", "phone case"]
    names += [f"gift item number {k}" for k in range(4)]
    items.write_text("sku,name\n" + "\n".join(f"i{k},{n}" for k, n in enumerate(names)) + "\n", encoding="utf-8")
    args = ("ingest", "csv", log, "-o", tmp_path / "raw", *MAPS, *TYPE, "--items", items, "--item-map", "item_id=sku")
    assert invoke(*args, "--item-map", "title=name").exit_code == 0
    result = invoke("encode", tmp_path / "raw", "--encoder", "use", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "encoded 9 of 9 items with use" in result.output
    assert (tmp_path / "vectors" / "vectors.npy").is_file()
    again = invoke("encode", tmp_path / "raw", "--encoder", "use", "--threads", "1")
    assert "encoded 0 of 9 items" in again.output
    assert "reused 9" in again.output
    found = invoke("find", "帐篷", "--vectors", tmp_path / "vectors", "-k", "2")
    assert found.exit_code == 0, found.output
    assert "camping tent for two" in found.output.splitlines()[0]
    line = one_line_error(invoke("encode", tmp_path / "raw", "--encoder", "bert"))
    assert "valid encoders" in line


@pytest.mark.slow
def test_train_evaluate_recommend(tmp_path: Path) -> None:
    from tiderec.clean.config import CleanConfig, KCore, Repeats
    from tiderec.clean.pipeline import clean
    from tiderec.clean.store import write_cleaned
    from tiderec.testing.worlds import cyclic_world

    write_cleaned(
        clean(cyclic_world(), config=CleanConfig(k_core=KCore(1, 1), repeats=Repeats(action="keep"))),
        tmp_path / "cleaned",
    )
    fast = (
        "--set",
        "train.epochs=3",
        "--set",
        "train.batch_size=32",
        "--set",
        "train.max_len=8",
        "--set",
        "train.threads=2",
    )
    result = invoke(
        "train", tmp_path / "cleaned", "--model", "sasrec", "-o", tmp_path / "model", *fast, "--set", "model.dim=16"
    )
    assert result.exit_code == 0, result.output
    assert "test (A) sasrec" in result.output
    assert (tmp_path / "model" / "model.safetensors").is_file()
    result = invoke(
        "evaluate",
        tmp_path / "cleaned",
        "--models",
        "pop,markov,sasrec",
        "-o",
        tmp_path / "eval",
        *fast,
        "--save-models",
        tmp_path / "saved",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["sasrec"]
    table = (tmp_path / "eval" / "results.md").read_text(encoding="utf-8")
    assert "(A) seen items kept" in table
    assert "(B) seen items removed" in table
    assert "| markov |" in table
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps({"user_id": "x", "history": [{"item_id": "i1", "ts": 1}]}) + "\n", encoding="utf-8")
    result = invoke(
        "recommend", "--model", tmp_path / "model", "--input", history, "-k", "3", "--output", tmp_path / "r.jsonl"
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "r.jsonl").read_text(encoding="utf-8"))["items"]) == 3
    result = invoke(
        "recommend", "--model", tmp_path / "model", "--input", history, "-k", "3", "--policy", "softmax",
        "--policy-set", "temperature=0.5", "--output", tmp_path / "p.jsonl",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    served = json.loads((tmp_path / "p.jsonl").read_text(encoding="utf-8"))
    assert len(served["propensities"]) == 3
    assert all(0 < p <= 1 for p in served["propensities"])
    assert "softmax: unknown key 'temp'" in one_line_error(
        invoke("recommend", "--model", tmp_path / "model", "--input", history, "--policy", "softmax",
               "--policy-set", "temp=0.5")
    )  # fmt: skip
    assert "--policy-set needs --policy" in one_line_error(
        invoke("recommend", "--model", tmp_path / "model", "--input", history, "--policy-set", "eps_max=0.5")
    )
    assert "valid models" in one_line_error(
        invoke("train", tmp_path / "cleaned", "--model", "bert", "-o", tmp_path / "m2")
    )
    line = one_line_error(invoke("train", tmp_path / "cleaned", "-o", tmp_path / "m3", "--set", "train.epoch=1"))
    assert "unknown key 'epoch'" in line
    line = one_line_error(invoke("train", tmp_path / "cleaned", "--model", "pop", "-o", tmp_path / "m4"))
    assert "classic baseline" in line
