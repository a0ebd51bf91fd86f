"""Running the service: one process, or several worker processes on one listening socket (uvicorn's supervisor
restarts a worker that dies). Workers share nothing but the database, which keeps them in step (see `Service`)."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import FastAPI

from tiderec.errors import ConfigError

ENV = "TIDEREC_SERVE_CONFIG"
"""Environment variable through which a worker process receives its `ServeConfig` (as JSON)."""


@dataclass(frozen=True)
class ServeConfig:
    """What `tiderec serve` serves and how: artefacts, database, per-key rate limit (requests/s over all
    workers), math threads per worker, worker processes."""

    cleaned_dir: str
    db: str
    model_dir: str | None = None
    vectors_dir: str | None = None
    intent_dir: str | None = None
    secret_dir: str | None = None
    rate_limit: float = 200.0
    threads: int = 1
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("threads", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.rate_limit <= 0:
            raise ConfigError(f"--rate-limit must be > 0, got {self.rate_limit}")


def build_app(config: ServeConfig) -> FastAPI:
    """Load the service and wrap it in the app (one process's share of the per-key rate limit)."""
    from tiderec.serving.app import Limits, create_app
    from tiderec.serving.service import limit_threads, load_service, secret_folder

    def path(value: str | None) -> Path | None:
        return None if value is None else Path(value)

    secrets = secret_folder(config.db, path(config.secret_dir))
    service = load_service(
        Path(config.cleaned_dir), config.db, path(config.model_dir), path(config.vectors_dir),
        path(config.intent_dir), secrets,
    )  # fmt: skip
    limit_threads(config.threads)
    return create_app(service, Limits(per_second=config.rate_limit / config.workers))


def app_from_env() -> FastAPI:
    """The app factory a worker process calls (its configuration comes from the parent through `ENV`)."""
    raw = os.environ.get(ENV)
    if raw is None:
        raise ConfigError(f"{ENV} is not set: start workers with `tiderec serve --workers N`")
    return build_app(ServeConfig(**json.loads(raw)))


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket that worker processes inherit. Created with IPPROTO_TCP so that asyncio turns Nagle's
    algorithm off on accepted connections (with protocol 0 it does not, and each response waits ~40 ms for
    the client's delayed ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def serve(config: ServeConfig, host: str, port: int, access_log: bool = False) -> None:
    """Serve until interrupted. With several workers the parent first loads everything once (so a broken
    artefact fails here with its message, and first-start work such as training the intent model runs once),
    then starts the workers."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # asyncio's loop, not uvloop: measured here, uvloop served ~8% more requests but starved some connections
    # (p99 1.3 s at 64 connections against 86 ms with asyncio); httptools parses HTTP faster than h11.
    common = {"log_level": "info", "access_log": access_log, "loop": "asyncio", "http": "httptools"}
    app = build_app(config)
    if config.workers == 1:
        uvicorn.run(app, host=host, port=port, **common)  # type: ignore[arg-type]
        return
    del app
    os.environ[ENV] = json.dumps(asdict(config))
    settings = uvicorn.Config(
        "tiderec.serving.launch:app_from_env", factory=True, workers=config.workers, host=host, port=port,
        timeout_worker_healthcheck=60, **common,  # type: ignore[arg-type]
    )  # fmt: skip
    sock = listening_socket(host, port)
    Multiprocess(settings, sockets=[sock]).run()
