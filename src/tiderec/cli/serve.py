"""`tiderec serve` (the HTTP service) and `tiderec keys create` (API keys with scopes)."""

from __future__ import annotations

from pathlib import Path

import click

from tiderec.errors import ConfigError
from tiderec.serving.keys import SCOPES, KeyStore
from tiderec.serving.service import secret_folder, server_secret
from tiderec.storage import Database

db_option = click.option(
    "--db", "db_target", default="runs/serve/tiderec.sqlite", show_default=True,
    help="Interest states and API keys: a SQLite file (WAL) or a postgresql:// URL.",
)  # fmt: skip
secret_option = click.option(
    "--secret-dir", type=click.Path(path_type=Path),
    help="Folder of the server secret (pseudonyms, key hashes) [default: the SQLite file's folder, or runs/serve].",
)  # fmt: skip


@click.command()
@click.option("--data", "cleaned_dir", required=True, type=click.Path(path_type=Path), help="A cleaned catalogue.")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), help="A trained model folder.")
@click.option("--vectors", type=click.Path(path_type=Path), help="Vector store [default: DATA/../vectors].")
@click.option("--intent-model", "intent_dir", type=click.Path(path_type=Path), default=Path("runs/query/intent"),
              show_default=True, help="Intent classifier (trained there on first start when missing).")  # fmt: skip
@click.option("--no-query", is_flag=True, help="Start without query understanding (no intent model needed).")
@db_option
@secret_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--rate-limit", type=float, default=200.0, show_default=True, help="Requests per second per API key.")
@click.option("--access-log", is_flag=True, help="Log every request (off by default: it costs ~10% of throughput).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Math threads (BLAS, torch, faiss) while serving; one keeps latency flat under load.")  # fmt: skip
def serve(
    cleaned_dir: Path,
    model_dir: Path | None,
    vectors: Path | None,
    intent_dir: Path,
    no_query: bool,
    db_target: str,
    secret_dir: Path | None,
    host: str,
    port: int,
    rate_limit: float,
    access_log: bool,
    threads: int,
) -> None:
    """Run the HTTP API (OpenAPI at /docs); create keys first with `tiderec keys create`."""
    import uvicorn

    from tiderec.serving.app import Limits, create_app
    from tiderec.serving.service import limit_threads, load_service

    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    intents = None if no_query else intent_dir
    service = load_service(cleaned_dir, db_target, model_dir, vectors, intents, secret_folder(db_target, secret_dir))
    if rate_limit <= 0:
        raise ConfigError(f"--rate-limit must be > 0, got {rate_limit}")
    limit_threads(threads)
    # asyncio's loop, not uvloop: measured here, uvloop served ~8% more requests but starved some connections
    # (p99 1.3 s at 64 connections against 86 ms with asyncio); httptools parses HTTP faster than h11.
    uvicorn.run(create_app(service, Limits(per_second=rate_limit)), host=host, port=port, log_level="info",
                access_log=access_log, loop="asyncio", http="httptools")  # fmt: skip


@click.group()
def keys() -> None:
    """API keys of the service."""


@keys.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES), help="Repeatable.")
@db_option
@secret_option
def create_key(name: str, scopes: tuple[str, ...], db_target: str, secret_dir: Path | None) -> None:
    """Create (or replace) a key; it is printed once and stored only as a keyed hash."""
    if not scopes:
        raise ConfigError("give at least one --scope")
    store = KeyStore(Database(db_target), server_secret(secret_folder(db_target, secret_dir)))
    click.echo(store.create(name, list(scopes)))
