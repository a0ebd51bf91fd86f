"""Build docs/results.md from benchmarks/results/*.md, so the results page cannot drift from the files.

Usage:
  .venv/bin/python -m benchmarks.results_doc            # write docs/results.md
  .venv/bin/python -m benchmarks.results_doc --check    # exit 1 when docs/results.md is stale
Each results file becomes a section: its title (first `# ` line), a link to it, its command line and its tables
(from the heading or table that opens the first table onward, headings demoted under the section's).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DOC = REPO / "docs" / "results.md"
STALE = "docs/results.md is stale: run python -m benchmarks.results_doc"

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("The main job", ("pipeline",)),
    ("Ingest and clean", ("ingest_clean",)),
    ("Item and query text", ("encoders",)),
    ("Sequential models", ("models_",)),
    ("Served = evaluated", ("parity_",)),
    ("The service", ("serve", "retrieval", "soak_", "fuzz")),
    ("Interest state", ("interest_update",)),
    ("Next interest, conversion, demand", ("shortterm", "conversion", "trends")),
    ("Interest migration: detection, recovery, lasting moves", ("migration", "recovery", "lasting")),
    ("Shopper queries", ("intents", "ner", "query", "compare")),
    ("Exploration and off-policy evaluation", ("ope", "replay")),
    ("Scale and GPU", ("scale", "gpu")),
)
OTHER = "Other results"
HEADING = re.compile(r"^(#+) ")
COMMAND = re.compile(r"^(?:Command:|- command:)\s*(.*?)\s*$")
RESULTS_LINK = "../benchmarks/results/"  # relative to docs/


@dataclass(frozen=True)
class ResultFile:
    """One results Markdown file, split into the parts the page shows."""

    name: str
    title: str
    command: str
    body: tuple[str, ...]


def group_of(name: str) -> str:
    """The page group a results file name belongs to (the first matching prefix, else OTHER)."""
    for group, prefixes in GROUPS:
        if name.startswith(prefixes):
            return group
    return OTHER


def title_of(lines: list[str], name: str) -> str:
    """The first top-level heading's text, or the file name when there is none."""
    for line in lines:
        if line.startswith("# "):
            return line[2:].strip()
    return name


def command_of(lines: list[str]) -> str:
    """The command line as inline code (the file's own backticks kept), or '' when the file names none."""
    for line in lines:
        match = COMMAND.match(line)
        if match:
            text = match.group(1)
            return text if text.startswith("`") else as_code(text)
    return ""


def as_code(text: str) -> str:
    """Inline code whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def body_start(lines: list[str]) -> int | None:
    """Index where the shown body begins: the first table, or the heading right above it."""
    table = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if table is None:
        return None
    above = table - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above >= 0 and HEADING.match(lines[above]) and not lines[above].startswith("# "):
        return above
    return table


def demote(line: str, levels: int) -> str:
    """A Markdown heading pushed `levels` deeper; any other line unchanged."""
    return "#" * levels + line if HEADING.match(line) else line


def body_of(lines: list[str]) -> tuple[str, ...]:
    """The file's tables and what follows them, headings demoted two levels, trailing blanks dropped."""
    start = body_start(lines)
    if start is None:
        return ()
    shown: list[str] = []
    fenced = False
    for line in lines[start:]:
        if line.startswith("```"):
            fenced = not fenced
        shown.append(line.rstrip() if fenced else demote(line.rstrip(), 2))
    while shown and not shown[-1]:
        shown.pop()
    return tuple(shown)


def read_result(path: Path) -> ResultFile:
    """Parse one results file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return ResultFile(path.name, title_of(lines, path.stem), command_of(lines), body_of(lines))


def result_files(results: Path) -> list[ResultFile]:
    """Every results Markdown file, sorted by name."""
    return [read_result(path) for path in sorted(results.glob("*.md"))]


def grouped(files: list[ResultFile]) -> list[tuple[str, list[ResultFile]]]:
    """Files by page group, groups in GROUPS order (OTHER last), empty groups left out."""
    order = [group for group, _ in GROUPS] + [OTHER]
    by_group: dict[str, list[ResultFile]] = {group: [] for group in order}
    for item in files:
        by_group[group_of(item.name)].append(item)
    return [(group, items) for group, items in by_group.items() if items]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than '-' and '_' dropped, spaces as '-'."""
    kept = re.sub(r"[^\w\- ]", "", heading.lower())
    return kept.replace(" ", "-")


def heading_of(item: ResultFile) -> str:
    """A section's heading: the file's stem (titles repeat across files), then its title."""
    return f"{item.name.removesuffix('.md')}: {item.title}"


def contents(groups: list[tuple[str, list[ResultFile]]]) -> list[str]:
    """One contents line per group: the group, then a link to each of its files' sections."""
    return [
        f"- {group}: " + ", ".join(f"[{item.name.removesuffix('.md')}](#{anchor(heading_of(item))})" for item in items)
        for group, items in groups
    ]


def section(item: ResultFile) -> list[str]:
    """One results file's section: heading, link, command, tables."""
    lines = [f"### {heading_of(item)}", "", f"File: [benchmarks/results/{item.name}]({RESULTS_LINK}{item.name})"]
    if item.command:
        lines += ["", f"Command: {item.command}"]
    if item.body:
        lines += ["", *item.body]
    return [*lines, ""]


def render(results: Path = RESULTS) -> str:
    """The whole docs/results.md text for the files in `results`."""
    groups = grouped(result_files(results))
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m benchmarks.results_doc` from the files in",
        f"[benchmarks/results/]({RESULTS_LINK}): do not edit by hand. Each section gives a file's",
        "title, the command that wrote it and its tables; the file itself has the machine, commit and settings.",
        "The headline figures and their targets are in the [README](../README.md#results).",
        "",
        *contents(groups),
        "",
    ]
    for group, items in groups:
        lines += [f"## {group}", ""]
        for item in items:
            lines += section(item)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/results.md, or with --check report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="Exit 1 when docs/results.md differs; write nothing.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Folder of results Markdown files.")
    parser.add_argument("--out", type=Path, default=DOC, help="The page to write or check.")
    args = parser.parse_args(argv)
    text = render(args.results)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(STALE, file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
