"""The HTTP API (FastAPI, versioned under /v1, OpenAPI at /docs): thin handlers over `Service`, API keys with
scopes, request and batch limits, per-key rate limits, precise 4xx errors and no stack traces to clients."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiderec.errors import RequestError, StorageError, TiderecError
from tiderec.serving.batching import MicroBatcher
from tiderec.serving.keys import Key
from tiderec.serving.lane import MAX_K, MAX_NOW, ROUTE, Lane, RecommendationLane
from tiderec.serving.service import MAX_PAGE, EventIn, ItemIn, RecommendIn, Service


@dataclass(frozen=True)
class Limits:
    """Request body bytes, events per batch, requests per second per key (token bucket with 2 s of burst)."""

    max_body: int = 1_000_000
    max_batch: int = 1000
    per_second: float = 200.0


class EventBody(BaseModel):
    user_id: str = Field(min_length=1, max_length=200)
    item_id: str = Field(min_length=1, max_length=200)
    ts: float = Field(description="Epoch seconds (1970 to 2100)", ge=0, le=4_102_444_800)
    event_type: str = "view"


class EventsBody(BaseModel):
    events: list[EventBody]


class ItemBody(BaseModel):
    item_id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=2000)
    price: float | None = Field(default=None, ge=0)
    category: str | None = Field(default=None, max_length=200)


class ItemsBody(BaseModel):
    items: list[ItemBody]


class QueryBody(BaseModel):
    text: str = Field(max_length=10_000)
    user_id: str | None = Field(default=None, max_length=200)


class Metrics:
    """This process's request counts and latency sums per route and status; every process of a service publishes
    them to the database, and /metrics renders the sums over all of them in Prometheus text format."""

    def __init__(self) -> None:
        self.count: dict[tuple[str, int], int] = defaultdict(int)
        self.seconds: dict[tuple[str, int], float] = defaultdict(float)
        self.changes = 0

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.count[(route, status)] += 1
        self.seconds[(route, status)] += seconds
        self.changes += 1

    def rows(self) -> list[tuple[str, int, int, float]]:
        """(route, status, count, seconds) of this process."""
        return [(r, s, n, self.seconds[(r, s)]) for (r, s), n in sorted(self.count.items())]

    @staticmethod
    def render(rows: list[tuple[str, int, int, float]]) -> str:
        seconds: dict[str, float] = defaultdict(float)
        for route, _, _, sec in rows:
            seconds[route] += sec
        lines = ["# TYPE tiderec_requests_total counter"]
        lines += [f'tiderec_requests_total{{route="{r}",status="{s}"}} {n}' for r, s, n, _ in rows]
        lines += ["# TYPE tiderec_request_seconds_sum counter"]
        lines += [f'tiderec_request_seconds_sum{{route="{r}"}} {v:.6f}' for r, v in sorted(seconds.items())]
        return "\n".join(lines) + "\n"


class Guard:
    """Pure ASGI middleware: refuses bodies over the limit (413) before reading them, answers 500 without a
    trace when a handler fails, and records each request's route, status and time in the metrics."""

    def __init__(self, app: ASGIApp, limits: Limits, metrics: Metrics) -> None:
        self.app, self.limits, self.metrics = app, limits, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def send_status(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = int(message["status"]), True
            await send(message)

        size = dict(scope["headers"]).get(b"content-length", b"")
        if size.isdigit() and int(size) > self.limits.max_body:
            response = JSONResponse({"error": f"request body over {self.limits.max_body} bytes"}, status_code=413)
            await response(scope, receive, send_status)
        else:
            try:
                await self.app(scope, receive, send_status)
            except Exception:
                if not started:
                    await JSONResponse({"error": "internal error"}, status_code=500)(scope, receive, send_status)
        route = scope.get("route")
        self.metrics.observe(getattr(route, "path", "unmatched"), status, time.perf_counter() - start)


EPOCH_SECONDS = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def since_us(text: str) -> int:
    """The feed's `since` in µs since the epoch: epoch seconds (a decimal number) or an ISO-8601 date or date-time,
    UTC where it names no zone; anything else is a RequestError saying what was expected."""
    text = text.strip()
    if EPOCH_SECONDS.fullmatch(text):
        return int(Decimal(text) * 1_000_000)
    try:
        moment = datetime.fromisoformat(text)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return (moment - EPOCH) // timedelta(microseconds=1)
    except (ValueError, OverflowError):
        shown = text if len(text) <= 40 else text[:39] + "…"
        raise RequestError(
            "since: expected epoch seconds (e.g. 1700000000 or 1700000000.5) or an ISO-8601 date or date-time "
            f"(e.g. 2024-05-01, 2024-05-01T12:00:00, 2024-05-01T12:00:00+02:00; UTC without a zone), got {shown!r}"
        ) from None


def service_error(exc: TiderecError) -> JSONResponse:
    """The answer to an error the service raised: 400 for a request it cannot serve, 503 with Retry-After while
    the database cannot serve (StorageError: the request's transaction was rolled back, or its commit's outcome
    is unknown, so sending it again is safe; a batch of events already committed is counted as duplicates)."""
    if isinstance(exc, StorageError):
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})
    return JSONResponse({"error": str(exc)}, status_code=400)


class Access:
    """API keys with scopes and a per-key token bucket (2 s of burst): `check` returns the key or raises the
    401/403/429 HTTPException."""

    def __init__(self, service: Service, limits: Limits) -> None:
        self.service, self.limits = service, limits
        self.buckets: dict[str, tuple[float, float]] = {}

    def check(self, header: str | None, scope: str) -> Key:
        key = self.service.check_key(header)
        if key is None:
            raise HTTPException(401, "missing or unknown API key (header X-API-Key)")
        if scope not in key.scopes and "admin" not in key.scopes:
            raise HTTPException(403, f"this key lacks the {scope!r} scope")
        rate, now = self.limits.per_second, time.monotonic()
        tokens, last = self.buckets.get(key.name, (2 * rate, now))
        tokens = min(2 * rate, tokens + (now - last) * rate)
        if tokens < 1:
            raise HTTPException(429, "rate limit exceeded for this key")
        self.buckets[key.name] = (tokens - 1, now)
        return key


PUBLISH_SECONDS = 1.0
"""How often a process publishes its request metrics to the database (and on each /metrics read)."""

log = logging.getLogger("tiderec.serve")


def create_app(service: Service, limits: Limits | None = None) -> FastAPI:
    """The app over a loaded service; nothing is created at import time. Its request metrics are published to the
    service's database, so that the processes sharing one database report their sums."""
    lim = limits or Limits()
    metrics = Metrics()
    worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def publish() -> None:
        changes = metrics.changes
        service.publish_metrics(worker, metrics.rows())
        metrics.changes -= changes

    def publish_quietly() -> None:
        """Publish in the background: while the database is down, the counts wait for the next try."""
        try:
            publish()
        except StorageError as exc:
            log.warning("request metrics not published: %s", exc)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def publisher() -> None:
            while True:
                await asyncio.sleep(PUBLISH_SECONDS)
                if metrics.changes:
                    publish_quietly()

        task = asyncio.create_task(publisher())
        yield
        task.cancel()
        publish_quietly()

    app = FastAPI(title="tiderec", version="1", description="Interests that move in real time.", lifespan=lifespan)
    lists = MicroBatcher(service.recommend_many)
    app.state.recommendation_batches = lists
    app.state.service = service

    @app.exception_handler(TiderecError)
    async def failed(request: Request, exc: TiderecError) -> JSONResponse:
        return service_error(exc)

    access = Access(service, lim)

    def scope(name: str) -> Callable[..., Awaitable[Key]]:
        async def check(x_api_key: Annotated[str | None, Header()] = None) -> Key:
            return access.check(x_api_key, name)

        return check

    ingest, read, admin = Depends(scope("ingest")), Depends(scope("read")), Depends(scope("admin"))
    # User ids in paths match with `:path`, so that an id holding "/" (sent as %2F, which the server decodes before
    # routing) can be read and forgotten like any other: the fuzz run ingested such ids and could not read them.

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, Any]:
        """Ready: the catalogue is loaded and the database answers (503 with the reason while it does not)."""
        return service.readiness()

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics_text() -> str:
        """Request counts and seconds per route, summed over every process serving with this database."""
        publish()
        return Metrics.render(service.metric_totals())

    @app.post("/v1/events", dependencies=[ingest])
    async def post_events(body: EventsBody) -> JSONResponse:
        if len(body.events) > lim.max_batch:
            raise HTTPException(413, f"{len(body.events)} events in one batch; at most {lim.max_batch}")
        events = [EventIn(e.user_id, e.item_id, round(e.ts * 1e6), e.event_type) for e in body.events]
        return JSONResponse(service.ingest(events))

    @app.get(ROUTE, dependencies=[read])
    async def recommendations(
        user_id: str,
        k: Annotated[int, Query(ge=1, le=MAX_K, description="List length; a smaller catalogue gives all it can")] = 10,
        explore: bool = False,
        exclude_seen: Annotated[
            bool | None, Query(description="Leave out the user's items (default: the scoring the model was chosen on)")
        ] = None,
        now: Annotated[
            float | None, Query(ge=0, le=MAX_NOW, description="Epoch seconds to score at (default: the clock)")
        ] = None,
    ) -> JSONResponse:
        """The user's list now: the model's own score (what `tiderec evaluate` ranks with), a live query's term on
        top, exploration when asked; `fallback` names what served a user with no known history. Requests that
        arrive together are scored together (`MicroBatcher`); well-formed ones are answered by the fast lane
        (serving/lane.py) before they reach this handler, with the same batcher and the same JSON."""
        now_us = None if now is None else round(now * 1e6)
        return JSONResponse(await lists.submit(RecommendIn(user_id, k, explore, now_us, exclude_seen)))

    @app.get("/v1/users/{user_id:path}/interests", dependencies=[read])
    async def interests(user_id: str) -> JSONResponse:
        return JSONResponse(service.interests(user_id))

    @app.post("/v1/query", dependencies=[read])
    def query(body: QueryBody) -> dict[str, Any]:
        return service.query(body.text, body.user_id)

    @app.post("/v1/items", dependencies=[admin])
    def post_items(body: ItemsBody) -> dict[str, int]:
        if len(body.items) > lim.max_batch:
            raise HTTPException(413, f"{len(body.items)} items in one batch; at most {lim.max_batch}")
        return service.upsert_items([ItemIn(i.item_id, i.title, i.price, i.category) for i in body.items])

    @app.get("/v1/trends", dependencies=[read])
    def trends(top: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
        return service.trends(top)

    @app.get("/v1/migrations", dependencies=[read])
    def migrations(
        since: Annotated[
            str | None,
            Query(
                description="Changes recorded at or after this moment: epoch seconds or an ISO-8601 date or "
                "date-time (UTC without a zone); default: all"
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Changes per page")] = 100,
        cursor: Annotated[str | None, Query(description="The previous page's next_cursor")] = None,
    ) -> dict[str, Any]:
        """Declared interest changes across users, in the order they were recorded (by ingest): each names its
        user by pseudonym only (the `pseudonym` of /v1/users/{id}/interests), never by the raw id."""
        return service.migrations(None if since is None else since_us(since), cursor, limit)

    @app.get("/dashboard/{user_id:path}", response_class=HTMLResponse)
    async def dashboard(user_id: str, key: str = "") -> str:
        """The HTML dashboard; a browser passes its read key as ?key= (use it on trusted networks only)."""
        await scope("read")(key)
        return await run_in_threadpool(service.dashboard, user_id)

    @app.post("/v1/model/reload", dependencies=[admin])
    def reload_model() -> dict[str, Any]:
        """Swap in the model that retraining wrote to the service's model folder, without downtime."""
        return service.reload_model()

    @app.delete("/v1/users/{user_id:path}", dependencies=[admin])
    def forget(user_id: str) -> dict[str, bool]:
        return {"deleted": service.forget(user_id)}

    route = next(r for r in app.routes if getattr(r, "path", None) == ROUTE)
    app.state.recommendation_lane = Lane(access.check, lists, route, service_error)
    app.add_middleware(RecommendationLane, lane=app.state.recommendation_lane)
    app.add_middleware(Guard, limits=lim, metrics=metrics)
    return app
