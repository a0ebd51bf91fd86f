"""Running the service: one process, or several worker processes to which the parent hands the connections it
accepts, in turn (`handover`; a worker that dies is replaced). Workers share nothing but the database, which keeps
them in step (see `Service`)."""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
from dataclasses import asdict, dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fastapi import FastAPI

from tiderec.errors import ConfigError
from tiderec.ranking.retrieval import IndexConfig

if TYPE_CHECKING:
    from tiderec.serving.service import Learned

log = logging.getLogger("tiderec.serve")


MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """One worker per core this process may run on (at most MAX_DEFAULT_WORKERS): each worker serves with one
    math thread, so a core without a worker idles while requests queue. Measured on 2 cores (bench_serve, Online
    Retail with the full score, 16 connections, wrk sharing the cores; serve.md): 2 workers served 2,794 requests/s
    against one worker's 1,442, p99 10.1 against 18.6 ms. Each worker holds its own model, index and catalogue in
    memory, hence the cap."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


@dataclass(frozen=True)
class ServeConfig:
    """What `tiderec serve` serves and how: artefacts, database, per-key rate limit (requests/s over all
    workers), math threads per worker, worker processes, the large-catalogue candidate index
    (hnsw_dim 0: its graph over the full keys)."""

    cleaned_dir: str
    db: str
    model_dir: str | None = None
    vectors_dir: str | None = None
    intent_dir: str | None = None
    secret_dir: str | None = None
    rate_limit: float = 200.0
    threads: int = 1
    workers: int = 1
    index: Literal["hnsw", "ivf"] = "hnsw"
    hnsw_dim: int = 64

    def __post_init__(self) -> None:
        for name in ("threads", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.hnsw_dim < 0:
            raise ConfigError(f"--hnsw-dim must be >= 0 (0: the full keys), got {self.hnsw_dim}")
        if self.rate_limit <= 0:
            raise ConfigError(f"--rate-limit must be > 0, got {self.rate_limit}")


def build_app(config: ServeConfig, learned: Learned | None = None) -> FastAPI:
    """Load the service and wrap it in the app (one process's share of the per-key rate limit); `learned`: what
    the parent of several workers learned at start, so that a worker does not learn it again. What is loaded
    lives as long as the process, so it leaves the garbage collector's generations (`gc.freeze`): full
    collections then scan only what requests allocate, not the catalogue, model and libraries (their pauses were
    the recommendations' p99 under load)."""
    from tiderec.serving.app import Limits, create_app
    from tiderec.serving.service import limit_threads, load_service, secret_folder

    def path(value: str | None) -> Path | None:
        return None if value is None else Path(value)

    secrets = secret_folder(config.db, path(config.secret_dir))
    service = load_service(
        Path(config.cleaned_dir), config.db, path(config.model_dir), path(config.vectors_dir),
        path(config.intent_dir), secrets, IndexConfig(engine=config.index, hnsw_dim=config.hnsw_dim or None),
        learned=learned,
    )  # fmt: skip
    limit_threads(config.threads)
    app = create_app(service, Limits(per_second=config.rate_limit / config.workers))
    gc.collect()
    gc.freeze()
    return app


def bound_socket(host: str, port: int) -> socket.socket:
    """The service's TCP socket, bound (a port in use fails here) and not yet listening: the parent listens once
    every worker has loaded. Created with IPPROTO_TCP so that asyncio turns Nagle's algorithm off on accepted
    connections (with protocol 0 it does not, and each response waits ~40 ms for the client's delayed ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def serve(config: ServeConfig, host: str, port: int, access_log: bool = False) -> None:
    """Serve until interrupted. With several workers the parent first loads everything once (so a broken
    artefact fails here with its message, and first-start work such as training the intent model runs once),
    holds the port, and starts the workers; a worker that dies after starting is replaced, one that fails to
    start stops the service. SIGTERM stops gracefully: the sockets close (new connections are refused), requests
    in flight finish (up to SHUTDOWN_SECONDS), and the process exits with status 0."""
    import uvicorn

    from tiderec.serving.handover import channel_pair, hand_over

    signal.signal(signal.SIGTERM, _exit_cleanly)
    app = build_app(config)
    if config.workers == 1:
        uvicorn.run(app, host=host, port=port, access_log=access_log, **UVICORN)  # type: ignore[arg-type]
        return
    from tiderec.serving.service import Learned

    learned = Learned(app.state.service.lasting)
    del app
    gc.collect()
    listener = bound_socket(host, port)
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def start() -> tuple[BaseProcess, Synchronized[int], socket.socket]:
        ready: Synchronized[int] = context.Value("i", 0)
        ours, theirs = channel_pair()
        args = (asdict(config), learned, theirs, access_log, ready)
        process = context.Process(target=_worker, args=args, daemon=True)
        process.start()
        theirs.close()
        return process, ready, ours

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    workers = [start() for _ in range(config.workers)]
    channels: list[socket.socket | None] = [None] * len(workers)  # a worker's, once it has loaded
    accepting: threading.Thread | None = None
    failed = False
    while not stop.wait(0.2):
        for k, (process, ready, channel) in enumerate(workers):
            if channels[k] is None and ready.value:
                channels[k] = channel
            if process.is_alive():
                continue
            if not ready.value:
                log.error("a worker failed to start (exit code %s); stopping", process.exitcode)
                failed = True
                stop.set()
                break
            log.warning("worker %d exited (code %s); starting another", process.pid, process.exitcode)
            channels[k] = None
            channel.close()
            workers[k] = start()
        if accepting is None and not stop.is_set() and all(c is not None for c in channels):
            listener.listen(BACKLOG)  # connections are refused until every worker has loaded
            accepting = threading.Thread(target=hand_over, args=(listener, channels, stop), daemon=True)
            accepting.start()
            log.info("parent %d: %d workers on %s:%d", os.getpid(), config.workers, host, port)
    if accepting is not None:
        accepting.join()
    listener.close()
    for process, _, _ in workers:
        process.terminate()
    for process, _, channel in workers:
        process.join(SHUTDOWN_SECONDS + 10)
        if process.is_alive():
            log.error("worker %d still running %d s after SIGTERM; killing it", process.pid, SHUTDOWN_SECONDS + 10)
            process.kill()
            process.join()
        channel.close()
    if failed:
        raise ConfigError("a worker failed to start; see its error above")


BACKLOG = 2048
"""Connections the listening socket queues before they are accepted."""

SHUTDOWN_SECONDS = 20
"""After SIGTERM, how long requests in flight may take to finish before their connections are closed."""

UVICORN: dict[str, object] = {
    "log_level": "info", "loop": "asyncio", "http": "httptools", "timeout_graceful_shutdown": SHUTDOWN_SECONDS,
}  # fmt: skip
"""asyncio's loop, not uvloop: measured here, uvloop served ~8% more requests but starved some connections (p99
1.3 s at 64 connections against 86 ms with asyncio); httptools parses HTTP faster than h11."""


def _exit_cleanly(signum: int, frame: object) -> None:
    """SIGTERM outside uvicorn's own handling: before serving (still loading), or when uvicorn, after its graceful
    shutdown, raises the signal again to the handler that was there before it. Either way the stop was asked
    for, so the process exits with status 0 rather than dying of the signal."""
    raise SystemExit(0)


def _worker(
    config: dict[str, object], learned: Learned, channel: socket.socket, access_log: bool, ready: Synchronized[int]
) -> None:
    """One worker process: load the service, then serve the connections the parent hands over on `channel`."""
    import uvicorn

    from tiderec.serving.handover import HandedServer

    signal.signal(signal.SIGTERM, _exit_cleanly)
    _die_with_parent()
    app = build_app(ServeConfig(**config), learned)  # type: ignore[arg-type]
    ready.value = 1
    settings = uvicorn.Config(app, access_log=access_log, **UVICORN)  # type: ignore[arg-type]
    HandedServer(settings, channel).run()


def _die_with_parent() -> None:
    """On Linux, have the kernel send this worker SIGTERM when its parent dies: a `kill -9` of `tiderec serve`
    must not leave workers serving (and holding the port) without the parent that replaces and stops them."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


PR_SET_PDEATHSIG = 1
