"""The API fuzzed from its own OpenAPI schema (schemathesis + hypothesis): any generated request, with a valid
admin key or none, gets an answer below 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings


def test_no_server_errors(setup: tuple[TestClient, dict[str, str], Path]) -> None:
    client, keys, _ = setup
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            for headers in ({"X-API-Key": keys["admin"]}, {}):
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:200])

        check()
        checked.append(operation.label)
    assert len(checked) >= 10
