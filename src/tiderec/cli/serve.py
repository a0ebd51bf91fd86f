"""`tiderec serve` (the HTTP service) and `tiderec keys create` (API keys with scopes)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
@click.option(
    "--threads",
    type=int,
    default=1,
    show_default=True,
    help="Math threads (BLAS, torch, faiss) per worker; one keeps latency flat under load.",
)
@click.option("--workers", type=int, default=None,
              help="Worker processes on one socket, sharing the database [default: a core each, up to 8].")  # fmt: skip
@click.option("--index", "index_engine", type=click.Choice(["hnsw", "ivf"]), default="hnsw", show_default=True,
              help="Candidate index above 10,240,000 key numbers (items x dims; smaller: scanned).")  # fmt: skip
@click.option("--hnsw-dim", type=int, default=64, show_default=True,
              help="HNSW graph over the keys' top principal directions (re-scored exactly); 0: full keys.")  # fmt: skip
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
    workers: int | None,
    index_engine: Literal["hnsw", "ivf"],
    hnsw_dim: int,
) -> None:
    """Run the HTTP API (OpenAPI at /docs); create keys first with `tiderec keys create`."""
    from tiderec.serving.launch import ServeConfig, default_workers
    from tiderec.serving.launch import serve as run

    def text(path: Path | None) -> str | None:
        return None if path is None else str(path)

    config = ServeConfig(
        str(cleaned_dir), db_target, text(model_dir), text(vectors), None if no_query else str(intent_dir),
        text(secret_dir), rate_limit, threads, default_workers() if workers is None else workers, index_engine,
        hnsw_dim,
    )  # fmt: skip
    run(config, host, port, access_log)


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
