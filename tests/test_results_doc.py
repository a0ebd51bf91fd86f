"""docs/results.md is what benchmarks.results_doc makes of benchmarks/results/, and results links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from benchmarks.results_doc import DOC, OTHER, STALE, group_of, main, render

from tests.conftest import REPO

RESULTS_LINK = re.compile(r"\]\(([^)\s]*benchmarks/results/[^)\s#]*\.md)(?:#[^)\s]*)?\)")


def test_results_page_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), STALE


@pytest.mark.parametrize("doc", ["README.md", "docs/results.md"])
def test_results_links_point_to_files(doc: str) -> None:
    path = REPO / doc
    links = RESULTS_LINK.findall(path.read_text(encoding="utf-8"))
    assert links, f"{doc} links no benchmarks/results file"
    missing = sorted({link for link in links if not (path.parent / link).is_file()})
    assert not missing, f"{doc} links results files that do not exist: {missing}"


def write_results(folder: Path) -> None:
    """Two small results files in both command styles."""
    folder.mkdir()
    (folder / "serve.md").write_text(
        "# Service under load\n\nCommand: `python -m benchmarks.bench_serve`  \nCommit abc.\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n## Tail\n\nnote\n",
        encoding="utf-8",
    )
    (folder / "zzz_new.md").write_text(
        "# Something new\n\n- command: python -m benchmarks.bench_new --x 1\n- date: 2026\n\n"
        "## Part one\n\n| c |\n|---|\n| 3 |\n",
        encoding="utf-8",
    )


def test_render_shows_titles_links_commands_and_tables(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_results(results)
    text = render(results)
    assert "### serve: Service under load" in text
    assert "File: [benchmarks/results/serve.md](../benchmarks/results/serve.md)" in text
    assert "Command: `python -m benchmarks.bench_serve`\n" in text
    assert "Command: `python -m benchmarks.bench_new --x 1`" in text
    assert "#### Tail" in text
    assert "#### Part one\n\n| c |" in text
    assert "- date: 2026" not in text
    assert text.index("## The service") < text.index(f"## {OTHER}")
    assert render(results) == text


def test_unknown_prefix_goes_to_other() -> None:
    assert group_of("models_new.md") == "Sequential models"
    assert group_of("brand_new.md") == OTHER


def test_check_mode_exits_1_when_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    write_results(results)
    out = tmp_path / "results_page.md"
    args = ["--results", str(results), "--out", str(out)]
    assert main([*args, "--check"]) == 1
    assert STALE in capsys.readouterr().err
    assert main(args) == 0
    assert main([*args, "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "hand edit\n", encoding="utf-8")
    assert main([*args, "--check"]) == 1
