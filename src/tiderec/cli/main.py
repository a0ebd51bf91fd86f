"""The `tiderec` command: one sub-command per stage; user errors print one line and exit 2."""

from __future__ import annotations

import sys
from typing import Any

import click

from tiderec.cli.data import clean_command, datasets, grow_command, ingest, stats
from tiderec.cli.dynamics import interests, migrations, report, trends
from tiderec.cli.experiment import experiment
from tiderec.cli.models import evaluate, recommend, train
from tiderec.cli.pipeline import pipeline
from tiderec.cli.query import query
from tiderec.cli.serve import keys, serve
from tiderec.cli.text import encode, find
from tiderec.errors import TiderecError

EXIT_USER_ERROR = 2


class _Group(click.Group):
    """Turns expected failures into a one-line message instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TiderecError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            click.echo(f"error: {exc.filename or ''}: {exc.strerror}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tiderec")
def cli() -> None:
    """tiderec: track how shoppers' interests move, from behaviour logs and item text."""


for command in (
    datasets,
    ingest,
    grow_command,
    clean_command,
    stats,
    encode,
    find,
    train,
    evaluate,
    recommend,
    pipeline,
    experiment,
    migrations,
    interests,
    trends,
    report,
    query,
    serve,
    keys,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="tiderec")
