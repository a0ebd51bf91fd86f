"""`tiderec query --input` on bad input: one line naming file, line and what was expected; no traceback, no output
file; with --skip-bad-rows the good lines are understood and the bad ones counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tiderec.cli.main import cli
from tiderec.ingest.datasets import data_root
from tiderec.query.intent import read_intents
from tiderec.query.softmax import fit_softmax
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig

GOOD = b'{"text": "running shoes under $50"}\n'
BAD = [
    (b'{"text": "caf\xe9"}\n', "invalid UTF-8: expected UTF-8 text, got 'byte 0xe9 at column 14'"),
    (b'{"text": "a\\ud800b"}\n', "lone surrogate in text: expected valid Unicode text, got 'U+D800 at character 1'"),
    (b"[1, 2]\n", "not a JSON object"),
    (b'{"query": "shoes"}\n', "column 'text' no \"text\" field"),
    (b'{"text": null}\n', '"text" is not a string: expected a JSON object with a string "text", got \'null\''),
    (b'{"text": 42}\n', '"text" is not a string: expected a JSON object with a string "text", got \'int\''),
    (b"\n", "empty line"),
    (b"{not json\n", "not JSON"),
]


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["query", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(("line", "message"), BAD)
def test_each_bad_line_stops_the_run_with_its_place_and_no_output(tmp_path: Path, line: bytes, message: str) -> None:
    source, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(GOOD + line + GOOD)
    code, output = _invoke(["--input", str(source), "--output", str(out), "--tagger", str(tmp_path / "none")])
    assert code == 2
    assert f"{source}:2: " in output
    assert message in output
    assert "--skip-bad-rows" in output
    assert "Traceback" not in output
    assert not out.exists()
    assert not list(tmp_path.glob("*.part"))


def test_a_lone_surrogate_in_the_text_argument_is_an_error() -> None:
    code, output = _invoke(["shoes \ud800", "--tagger", "none"])
    assert code == 2
    assert "lone surrogate" in output


@pytest.fixture(scope="module")
def intent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = read_intents(data_root() / "queries" / "intents.dev.jsonl")
    rng = np.random.default_rng(0)
    picks = [r for intent in ("search", "support", "other") for r in [x for x in rows if x.intent == intent][:400]]
    sample = [picks[i] for i in rng.permutation(len(picks))[:240]]
    encoder = load_encoder(EncoderConfig(name="use", threads=2))
    folder = tmp_path_factory.mktemp("intent")
    fit_softmax(encoder.encode_queries([r.text for r in sample]), [r.intent for r in sample]).save(folder)
    return folder


def test_skip_bad_rows_counts_every_bad_line_and_keeps_the_good_ones(tmp_path: Path, intent_dir: Path) -> None:
    source, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(GOOD + b"".join(line for line, _ in BAD) + GOOD)
    result = CliRunner().invoke(
        cli, ["query", "--input", str(source), "--output", str(out), "--skip-bad-rows", "--intent-model",
              str(intent_dir), "--tagger", str(tmp_path / "none")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["price"] for r in rows] == [{"min": None, "max": 50.0}] * 2
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["queries"] == 2
    assert summary["bad_lines"] == len(BAD)
    assert summary["examples"][0].startswith(f"{source}:2:")
    assert "tiderec query build" in result.output
