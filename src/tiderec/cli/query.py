"""`tiderec query`: shopper text -> intent, entities, price limits, negations (and items from a catalogue)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from tiderec.clean.store import read_cleaned
from tiderec.errors import BadRow, DatasetError
from tiderec.query.entities import Lexicon
from tiderec.query.ner import TrainedTagger
from tiderec.query.understand import QueryUnderstander, intent_model, rank_items
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig
from tiderec.text.store import read_vectors


def _texts(path: Path, skip_bad: bool) -> tuple[list[str], list[BadRow]]:
    texts, bad = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                texts.append(str(obj["text"]) if obj.get("text") is not None else "")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                row = BadRow(str(path), number, "text", "bad query line", 'a JSON object {"text": ...}', str(exc))
                if not skip_bad:
                    raise DatasetError(row.describe()) from None
                bad.append(row)
    return texts, bad


@click.command()
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
    default=Path("runs/query/intent"),
    show_default=True,
    help="Cached intent classifier (trained there on first use from the shipped labelled intents).",
)
@click.option(
    "--tagger",
    "tagger_dir",
    type=click.Path(path_type=Path),
    default=Path("runs/query/tagger"),
    show_default=True,
    help="Chinese title tagger (benchmarks.bench_ner trains it); skipped when missing.",
)
@click.option("--threshold", type=float, default=0.5, show_default=True, help="Below it the intent is 'uncertain'.")
@click.option("--skip-bad-rows", is_flag=True, help="Count and skip malformed input lines instead of stopping.")
def query(
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
    items = None
    if cleaned_dir is not None:
        cleaned = read_cleaned(cleaned_dir)
        store = read_vectors(vectors if vectors is not None else cleaned_dir.parent / "vectors")
        item_vectors, _ = store.aligned(cleaned.item_vocab.ids)
        items = (cleaned, item_vectors, load_encoder(EncoderConfig(name=store.space.encoder)))
    tagger = TrainedTagger.load(tagger_dir) if (tagger_dir / "tagger.json").is_file() else None
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
    texts, bad = _texts(input_path, skip_bad_rows) if input_path is not None else ([], [])
    lines = [json.dumps(r.to_dict(), ensure_ascii=False) for r in understander.understand(texts)]
    if output_path is None:
        click.echo("\n".join(lines))
    else:
        output_path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    click.echo(json.dumps({"queries": len(texts), "bad_lines": [b.describe() for b in bad[:5]]}), err=True)
