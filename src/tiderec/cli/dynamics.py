"""`tiderec migrations`, `interests`, `trends`, `report`: interest dynamics from a cleaned dataset."""

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
from tiderec.data.space import InterestSpace, interest_space
from tiderec.dynamics.batch import migrations_file
from tiderec.dynamics.migration import MigrationConfig, learn_detector
from tiderec.dynamics.plot import timeline_html
from tiderec.dynamics.report import ReportConfig, report_html
from tiderec.dynamics.timeline import Granularity, granularity_for, timeline
from tiderec.dynamics.trends import PERIOD, backtest, forecast, interest_counts, rising_falling
from tiderec.interest.state import InterestConfig
from tiderec.text.store import read_vectors


def user_codes(cleaned: CleanResult, space: InterestSpace) -> list[np.ndarray]:
    """Every user's sequence of interest codes, int64[n_events] in time order."""
    inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
    return [space.codes[inter.items_of(u)] for u in range(inter.n_users)]


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
        space = space.with_cooccurrence(user_codes(cleaned, space))
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
    space, cleaned = _space_of(cleaned_dir, vectors)
    learned = (
        learn_detector(user_codes(cleaned, space), len(space.labels), config) if config.detector != "rule" else None
    )
    vocab = cleaned.item_vocab
    if output_path is None:
        report = migrations_file(input_path, sys.stdout, space, vocab, config, skip_bad_rows, learned)
    else:
        with output_path.open("w", encoding="utf-8") as handle:
            report = migrations_file(input_path, handle, space, vocab, config, skip_bad_rows, learned)
    summary = {"events": report.events, "unknown_items_skipped": report.unknown_items, "space": space.source}
    if learned is not None:
        summary["learned_detector"] = {
            "threshold": round(learned.threshold, 4),
            "out_of_fold_f1": round(learned.fold_f1, 4),
            "out_of_fold_users_alarmed": round(learned.fold_alarm_share, 4),
        }
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


@click.command()
@click.option("--data", "cleaned_dir", required=True, type=click.Path(path_type=Path), help="A cleaned folder.")
@click.option("--vectors", type=click.Path(path_type=Path), help="Vector store [default: DATA/../vectors].")
@click.option("--per", type=click.Choice(["day", "week", "month"]), help="Window [default: by the data's span].")
@click.option("--top", type=int, default=10, show_default=True, help="Interests to list per section.")
def trends(cleaned_dir: Path, vectors: Path | None, per: Granularity | None, top: int) -> None:
    """Rising and falling interests in the last window (significance-tested) and next window's demand."""
    space, cleaned = _space_of(cleaned_dir, vectors)
    inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
    if len(inter) == 0:
        click.echo("no events")
        return
    gran = per or granularity_for(int(inter.ts.max() - inter.ts.min()))
    counts = interest_counts(inter.ts, space.codes[inter.item], len(space.labels), gran)
    if len(counts.starts) < 2:
        click.echo(f"only one {gran} of data: nothing to compare")
        return
    moved = [t for t in rising_falling(counts.counts) if t.q < 0.05][:top]
    click.echo(f"{counts.starts[-1].date()} vs {counts.starts[-2].date()} (per {gran}); significant at q < 0.05:")
    for t in moved:
        word = "rising " if t.ratio > 1 else "falling"
        click.echo(f"  {word} {space.label(t.interest):40.40} {t.before:>6} -> {t.now:>6}  x{t.ratio:.2f}  q={t.q:.2g}")
    if not moved:
        click.echo("  none")
    period = PERIOD[gran]
    nxt = forecast(counts.counts, period)
    busiest = np.argsort(-counts.counts[-1], kind="stable")[:top]
    click.echo(f"next {gran}, expected events (busiest interests now):")
    for k in busiest:
        click.echo(f"  {space.label(int(k)):40.40} {counts.counts[-1, k]:>8.0f} -> {nxt[k]:>8.1f}")
    origins = min(28 if gran == "day" else 8, len(counts.starts) - 1)
    wape = backtest(counts.counts, period, origins)
    click.echo(f"backtest, last {origins} {gran}s, WAPE: " + ", ".join(f"{k} {v:.3f}" for k, v in wape.items()))


@click.command()
@click.option("--data", "cleaned_dir", required=True, type=click.Path(path_type=Path), help="A cleaned folder.")
@click.option("--vectors", type=click.Path(path_type=Path), help="Vector store [default: DATA/../vectors].")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="report.html")
@click.option("--users", type=int, default=3, show_default=True, help="Sample users with a timeline.")
@click.option("--set", "overrides", multiple=True, help='Migration detector settings, e.g. detector="learned".')
def report(cleaned_dir: Path, vectors: Path | None, out_path: Path, users: int, overrides: tuple[str, ...]) -> None:
    """One HTML report of interest dynamics: timelines, migrations, trends, forecast vs actual, next interest."""
    settings = {k: toml_value(v) for k, v in pairs(overrides, "--set").items()}
    migration = configs.from_dict(MigrationConfig, settings, "migration")
    write_report(cleaned_dir, vectors, out_path, ReportConfig(users=users, migration=migration))
    click.echo(f"wrote {out_path}")


def write_report(cleaned_dir: Path, vectors: Path | None, out_path: Path, config: ReportConfig) -> None:
    """The dynamics report of a cleaned folder as one HTML page at `out_path`."""
    space, cleaned = _space_of(cleaned_dir, vectors)
    inter = Interactions.from_events(cleaned.events, cleaned.user_vocab, cleaned.item_vocab)
    title = f"Interest dynamics: {cleaned.events.meta.get('source', cleaned_dir.name)}"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(report_html(inter, space, title, config), encoding="utf-8")
