"""The ASGI guard: oversized bodies refused before they are read, failures answered without a trace, metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tiderec.serving.app import Guard, Limits, Metrics


def _client() -> tuple[TestClient, Metrics]:
    app = FastAPI()
    metrics = Metrics()
    app.add_middleware(Guard, limits=Limits(max_body=100), metrics=metrics)

    @app.post("/echo")
    async def echo(body: dict[str, str]) -> dict[str, str]:
        return body

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("secret detail")

    return TestClient(app, raise_server_exceptions=False), metrics


def test_oversized_bodies_failures_and_metrics() -> None:
    client, metrics = _client()
    assert client.post("/echo", json={"a": "b"}).json() == {"a": "b"}
    big = client.post("/echo", json={"a": "x" * 200})
    assert big.status_code == 413
    assert big.json() == {"error": "request body over 100 bytes"}
    failed = client.get("/fail")
    assert failed.status_code == 500
    assert failed.json() == {"error": "internal error"}
    assert "secret detail" not in failed.text
    text = Metrics.render(metrics.rows())
    assert 'tiderec_requests_total{route="/echo",status="200"} 1' in text
    assert 'tiderec_requests_total{route="/fail",status="500"} 1' in text
    assert 'route="unmatched",status="413"' in text
