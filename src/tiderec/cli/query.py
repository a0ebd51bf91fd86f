"""`tiderec query`: shopper text -> intent, entities, price limits, negations (and items from a catalogue)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from tiderec.clean.store import read_cleaned
from tiderec.errors import BadRow, BadRowError, DatasetError
from tiderec.query.build import QUERY_ARTEFACTS, build_query_artefacts, load_tagger
from tiderec.query.entities import Lexicon
from tiderec.query.understand import QueryUnderstander, intent_model, rank_items
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig
from tiderec.text.store import read_vectors


def _texts(path: Path, skip_bad: bool) -> tuple[list[str], list[BadRow]]:
    """The "text" of every line of a JSON Lines file; a line that is not valid UTF-8, not a JSON object, or has no
    string "text" (missing, null, a number, a lone surrogate) is an error naming file and line, or with `skip_bad`
    a counted rejection; empty lines are rejections too (a query file has no blank queries)."""
    texts, bad = [], []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text, problem = _text_of(raw)
            if problem is None:
                texts.append(text)
                continue
            field = "text" if problem[0].startswith(("no ", '"text"', "lone")) else None
            row = BadRow(str(path), number, field, problem[0], problem[1], problem[2])
            if not skip_bad:
                raise BadRowError(row)
            bad.append(row)
    return texts, bad


def _text_of(raw: bytes) -> tuple[str, tuple[str, str, str] | None]:
    """The query text of one raw line, or why there is none: (reason, expected, what was there)."""
    expected = 'a JSON object with a string "text"'
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "", ("invalid UTF-8", "UTF-8 text", f"byte {raw[exc.start]:#04x} at column {exc.start + 1}")
    if not line.strip():
        return "", ("empty line", expected, "")
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return "", ("not JSON", expected, str(exc))
    if not isinstance(obj, dict):
        return "", ("not a JSON object", expected, type(obj).__name__)
    if "text" not in obj:
        return "", ('no "text" field', expected, ", ".join(map(str, obj)) or "{}")
    value = obj["text"]
    if not isinstance(value, str):
        return "", ('"text" is not a string', expected, "null" if value is None else type(value).__name__)
    lone = next((i for i, c in enumerate(value) if "\ud800" <= c <= "\udfff"), None)
    if lone is not None:
        return "", ("lone surrogate in text", "valid Unicode text", f"U+{ord(value[lone]):04X} at character {lone}")
    return value, None


def _write(path: Path, lines: list[str]) -> None:
    """All lines at once, through a temporary file renamed into place: a failure leaves no partial output."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    tmp.replace(path)


class _DefaultGroup(click.Group):
    """`tiderec query TEXT ...` runs the default sub-command; `tiderec query build` builds the artefacts."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [UNDERSTAND, *args]
        return super().parse_args(ctx, args)


UNDERSTAND = "understand"


@click.group(cls=_DefaultGroup, invoke_without_command=False)
def query() -> None:
    """Understand shopper queries (`tiderec query TEXT`, `--input FILE`) or build what that needs (`query build`)."""


@query.command("build")
@click.option("--out", type=click.Path(path_type=Path), default=QUERY_ARTEFACTS, show_default=True)
@click.option(
    "--threads",
    type=int,
    default=2,
    show_default=True,
    help="Torch and encoder threads; the tagger's two members train side by side, a thread each.",
)
def build_command(out: Path, threads: int) -> None:
    """Build the intent classifier and the Chinese title tagger from ../shared/data (minutes, with progress)."""
    record = build_query_artefacts(out, threads=threads)
    click.echo(json.dumps(record, ensure_ascii=False))


@query.command(UNDERSTAND)
@click.argument("text", required=False)
@click.option("--input", "input_path", type=click.Path(path_type=Path), help='queries.jsonl, lines {"text": ...}')
@click.option("--output", "output_path", type=click.Path(path_type=Path), help="out.jsonl [default: stdout].")
@click.option("--data", "cleaned_dir", type=click.Path(path_type=Path), help="A cleaned catalogue to search.")
@click.option("--vectors", type=click.Path(path_type=Path), help="Its vector store [default: DATA/../vectors].")
@click.option("-k", "--k", "k", type=int, default=10, show_default=True)
@click.option(
    "--intent-model",
    "intent_dir",
    type=click.Path(path_type=Path),
    default=QUERY_ARTEFACTS / "intent",
    show_default=True,
    help="Intent classifier (`tiderec query build` makes it; trained there on first use when missing).",
)
@click.option(
    "--tagger",
    "tagger_dir",
    type=click.Path(path_type=Path),
    default=QUERY_ARTEFACTS / "tagger",
    show_default=True,
    help="Chinese title tagger (`tiderec query build` makes it); without it Chinese entities come from the lexicon.",
)
@click.option("--threshold", type=float, default=0.5, show_default=True, help="Below it the intent is 'uncertain'.")
@click.option("--skip-bad-rows", is_flag=True, help="Count and skip malformed input lines instead of stopping.")
def understand_command(
    text: str | None,
    input_path: Path | None,
    output_path: Path | None,
    cleaned_dir: Path | None,
    vectors: Path | None,
    k: int,
    intent_dir: Path,
    tagger_dir: Path,
    threshold: float,
    skip_bad_rows: bool,
) -> None:
    """Understand one query (TEXT) or a file of them (--input); with --data, also the catalogue's top items."""
    if (text is None) == (input_path is None):
        raise DatasetError("give either a query TEXT or --input queries.jsonl")
    if text is not None and any("\ud800" <= c <= "\udfff" for c in text):
        raise DatasetError("TEXT: not valid text (undecodable bytes or a lone surrogate): expected UTF-8 text")
    texts, bad = _texts(input_path, skip_bad_rows) if input_path is not None else ([], [])
    if output_path is not None and input_path is not None and output_path.resolve() == input_path.resolve():
        raise DatasetError(f"{output_path}: the output would overwrite the input")
    items = None
    if cleaned_dir is not None:
        cleaned = read_cleaned(cleaned_dir)
        store = read_vectors(vectors if vectors is not None else cleaned_dir.parent / "vectors")
        item_vectors, _ = store.aligned(cleaned.item_vocab.ids)
        items = (cleaned, item_vectors, load_encoder(EncoderConfig(name=store.space.encoder)))
    tagger = load_tagger(tagger_dir)
    if tagger is None:
        click.echo(f"note: no Chinese tagger at {tagger_dir}; build it with `tiderec query build`", err=True)
    understander = QueryUnderstander(
        intent_model(intent_dir, threshold=threshold), Lexicon.of(items[0].items if items else None), tagger
    )
    if text is not None:
        (result,) = understander.understand([text])
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        if items is not None:
            cleaned, item_vectors, encoder = items
            frame = cleaned.items.frame
            titles = [t or "" for t in frame["title"].to_list()]
            prices = frame["price"].cast(float).fill_null(np.nan).to_numpy()
            for row, score in rank_items(result, encoder, item_vectors, titles, prices, k):
                price = "" if np.isnan(prices[row]) else f"  {prices[row]:g}"
                click.echo(f"{score:.3f}  {frame['item_id'][row]}  {titles[row]}{price}")
        return
    lines = [json.dumps(r.to_dict(), ensure_ascii=False) for r in understander.understand(texts)]
    if output_path is None:
        click.echo("\n".join(lines))
    else:
        _write(output_path, lines)
    summary = {"queries": len(texts), "bad_lines": len(bad), "examples": [b.describe() for b in bad[:5]]}
    click.echo(json.dumps(summary, ensure_ascii=False), err=True)
