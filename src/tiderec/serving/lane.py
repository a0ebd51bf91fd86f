"""The recommendation route's fast lane: a pure ASGI middleware that answers well-formed, authorised
`GET /v1/users/{user_id}/recommendations` requests without FastAPI's router and parameter machinery.

Why: profiled at 16 connections, FastAPI's dependency solving and parameter validation cost about a third of a
served list's CPU. The lane accepts only requests whose parameters it can read exactly as the FastAPI route
would (plain decimal numbers, pydantic's boolean words, each parameter at most once) and whose key passes the
same `Access` check; everything else (a bad value, a bad key, a repeated parameter) goes on to the FastAPI route,
which answers it with its own precise error. Both submit to the same `MicroBatcher` and render the same JSON, so
a list does not depend on the path that served it (tests/serving/test_lane.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tiderec.errors import TiderecError
from tiderec.serving.batching import MicroBatcher
from tiderec.serving.service import RecommendIn

PREFIX, SUFFIX = "/v1/users/", "/recommendations"
ROUTE = PREFIX + "{user_id:path}" + SUFFIX
MAX_K = 200
MAX_NOW = 4_102_444_800
"""The route's bounds on `k` and `now` (epoch seconds), declared once for the FastAPI route and the lane."""
TRUE, FALSE = frozenset({"1", "on", "t", "true", "y", "yes"}), frozenset({"0", "off", "f", "false", "n", "no"})
"""The words pydantic reads as booleans (any case)."""
DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
PARAMETERS = frozenset({"k", "explore", "exclude_seen", "now"})


@dataclass
class Lane:
    """What the lane needs from the app: the key check (raises HTTPException), the batcher, the FastAPI route
    object (for the metrics' route name) and the app's answer to a service error; `answered` counts the requests
    the lane answered itself."""

    authorise: Callable[[str | None, str], Any]
    lists: MicroBatcher[RecommendIn, dict[str, Any]]
    route: Any
    error: Callable[[TiderecError], JSONResponse]
    answered: int = 0


def read_request(path: str, query_string: bytes) -> RecommendIn | None:
    """The request the FastAPI route would read from this path and query, or None where the lane should not
    decide (not this route, an empty id, or a parameter it does not read exactly as FastAPI does)."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)) or len(path) <= len(PREFIX) + len(SUFFIX):
        return None
    values: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in PARAMETERS:
            if name in values:
                return None
            values[name] = value
    k, explore, exclude, now = 10, False, None, None
    if "k" in values:
        if not values["k"].isascii() or not values["k"].isdigit() or not 1 <= int(values["k"]) <= MAX_K:
            return None
        k = int(values["k"])
    for name in ("explore", "exclude_seen"):
        if name in values:
            word = values[name].lower()
            if word not in TRUE and word not in FALSE:
                return None
            if name == "explore":
                explore = word in TRUE
            else:
                exclude = word in TRUE
    if "now" in values:
        if DECIMAL.fullmatch(values["now"]) is None or float(values["now"]) > MAX_NOW:
            return None
        now = round(float(values["now"]) * 1e6)
    return RecommendIn(path[len(PREFIX) : -len(SUFFIX)], k, explore, now, exclude)


class RecommendationLane:
    """Pure ASGI middleware over the app (see the module docstring)."""

    def __init__(self, app: ASGIApp, lane: Lane) -> None:
        self.app, self.lane = app, lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ask = None
        if scope["type"] == "http" and scope["method"] == "GET":
            ask = read_request(scope["path"], scope["query_string"])
        if ask is None:
            await self.app(scope, receive, send)
            return
        header = next((v for n, v in scope["headers"] if n == b"x-api-key"), None)
        try:
            self.lane.authorise(None if header is None else header.decode("latin-1"), "read")
            response = JSONResponse(await self.lane.lists.submit(ask))
        except HTTPException:
            await self.app(scope, receive, send)
            return
        except TiderecError as exc:
            response = self.lane.error(exc)
        scope["route"] = self.lane.route
        self.lane.answered += 1
        await response(scope, receive, send)
