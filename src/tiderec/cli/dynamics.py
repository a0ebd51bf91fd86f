"""`tiderec migrations` and `tiderec interests`: interest changes in any client's histories; a user's timeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from tiderec import config as configs
from tiderec.clean.pipeline import CleanResult
from tiderec.clean.store import read_cleaned
from tiderec.clean.vocab import Vocabulary
from tiderec.cli.common import pairs, toml_value
from tiderec.data.interactions import Interactions
from tiderec.dynamics.batch import migrations_file
from tiderec.dynamics.migration import MigrationConfig
from tiderec.dynamics.plot import timeline_html
from tiderec.dynamics.space import InterestSpace, interest_space
from tiderec.dynamics.timeline import Granularity, timeline
from tiderec.interest.state import InterestConfig
from tiderec.text.store import read_vectors


def load_space(cleaned_dir: Path, vectors_dir: Path | None) -> tuple[InterestSpace, Vocabulary]:
    """The interest space of a cleaned dataset: categories with behaviour (co-occurrence) vectors learned from
    its events, or clusters of its language-model vectors; and its item vocabulary."""
    space, cleaned = _space_of(cleaned_dir, vectors_dir)
    return space, cleaned.item_vocab


def _space_of(cleaned_dir: Path, vectors_dir: Path | None) -> tuple[InterestSpace, CleanResult]:
    cleaned = read_cleaned(cleaned_dir)
    store_dir = vectors_dir if vectors_dir is not None else cleaned_dir.parent / "vectors"
    vectors = None
    if (store_dir / "manifest.json").is_file():
        vectors, _ = read_vectors(store_dir).aligned(cleaned.item_vocab.ids)
    space = interest_space(cleaned.items, vectors)
    if space.vectors is None:
        inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
        space = space.with_cooccurrence([space.codes[inter.items_of(u)] for u in range(inter.n_users)])
    return space, cleaned


@click.command()
@click.option("--data", "cleaned_dir", required=True, type=click.Path(path_type=Path), help="A cleaned folder.")
@click.option("--vectors", type=click.Path(path_type=Path), help="Vector store [default: DATA/../vectors].")
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path), help="histories.jsonl")
@click.option("--output", "output_path", type=click.Path(path_type=Path), help="out.jsonl [default: stdout].")
@click.option("--set", "overrides", multiple=True, help="Detector settings, e.g. persist=4 (TOML values).")
@click.option("--skip-bad-rows", is_flag=True, help="Count and skip malformed lines instead of stopping.")
def migrations(
    cleaned_dir: Path,
    vectors: Path | None,
    input_path: Path,
    output_path: Path | None,
    overrides: tuple[str, ...],
    skip_bad_rows: bool,
) -> None:
    """Declared interest changes (migration, excursion, new interest) per history, with where and how sure."""
    settings = {k: toml_value(v) for k, v in pairs(overrides, "--set").items()}
    config = configs.from_dict(MigrationConfig, settings, "migration")
    space, vocab = load_space(cleaned_dir, vectors)
    if output_path is None:
        report = migrations_file(input_path, sys.stdout, space, vocab, config, skip_bad_rows)
    else:
        with output_path.open("w", encoding="utf-8") as handle:
            report = migrations_file(input_path, handle, space, vocab, config, skip_bad_rows)
    summary = {"events": report.events, "unknown_items_skipped": report.unknown_items, "space": space.source}
    click.echo(json.dumps(summary | {"bad_lines": [b.describe() for b in report.bad_lines[:5]]}), err=True)


@click.command()
@click.argument("user_id")
@click.option("--data", "cleaned_dir", required=True, type=click.Path(path_type=Path), help="A cleaned folder.")
@click.option("--vectors", type=click.Path(path_type=Path), help="Vector store [default: DATA/../vectors].")
@click.option("--per", type=click.Choice(["day", "week", "month"]), help="Window [default: by the data's span].")
@click.option("--html", "html_path", type=click.Path(path_type=Path), help="Also write the timeline plot here.")
def interests(
    user_id: str, cleaned_dir: Path, vectors: Path | None, per: Granularity | None, html_path: Path | None
) -> None:
    """A user's interest timeline: top interests per window, named from the catalogue."""
    space, cleaned = _space_of(cleaned_dir, vectors)
    user = cleaned.user_vocab.index_of(user_id)
    inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
    rows = slice(0, 0) if user is None else slice(int(inter.offsets[user]), int(inter.offsets[user + 1]))
    config = InterestConfig()
    weights = np.array([config.weight_of(int(t)) for t in inter.event_type[rows]])
    tl = timeline(user_id, inter.item[rows], inter.ts[rows], weights, space, per)
    click.echo(tl.render())
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(timeline_html(tl), encoding="utf-8")
