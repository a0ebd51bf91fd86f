"""The API fuzzed from its own OpenAPI schema (schemathesis + hypothesis): any generated request, with a valid
admin key or none, gets an answer below 500."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.serving.conftest import Setup


def test_no_server_errors(sqlite_setup: Setup) -> None:
    client, keys, _ = sqlite_setup
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
