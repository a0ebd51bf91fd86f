"""The recommendation route's fast lane: it reads exactly what the FastAPI route reads, answers with the same JSON,
and leaves every request it should not decide (bad values, bad keys, repeated parameters) to the route."""

from __future__ import annotations

import pytest

from tests.serving.conftest import Setup
from tiderec.errors import StorageError
from tiderec.serving.lane import read_request
from tiderec.serving.service import RecommendIn

PATH = "/v1/users/ana/recommendations"


def test_well_formed_requests_are_read_as_the_route_reads_them() -> None:
    assert read_request(PATH, b"") == RecommendIn("ana", 10)
    assert read_request(PATH, b"k=5&explore=TRUE&exclude_seen=no&now=1700000000.5&other=x") == RecommendIn(
        "ana", 5, True, 1_700_000_000_500_000, False
    )
    assert read_request("/v1/users/a%2Fb/c/recommendations", b"k=200") == RecommendIn("a%2Fb/c", 200)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/users//recommendations", b""),
        ("/v1/users/ana/interests", b""),
        (PATH, b"k=0"),
        (PATH, b"k=201"),
        (PATH, b"k=1.5"),
        (PATH, b"k="),
        (PATH, b"k=%D9%A3"),
        (PATH, b"k=3&k=4"),
        (PATH, b"explore=maybe"),
        (PATH, b"exclude_seen="),
        (PATH, b"now=-1"),
        (PATH, b"now=1e9"),
        (PATH, b"now=4102444801"),
    ],
)
def test_anything_else_is_left_to_the_route(path: str, query: bytes) -> None:
    assert read_request(path, query) is None


def test_the_lane_and_the_route_give_the_same_answers(setup: Setup) -> None:
    client, keys, _ = setup
    read = {"X-API-Key": keys["read"]}
    events = [{"user_id": "lena", "item_id": f"t{i}", "ts": 1_700_000_000 + i, "event_type": "view"} for i in range(5)]
    assert client.post("/v1/events", json={"events": events}, headers={"X-API-Key": keys["ingest"]}).status_code == 200
    lane = client.app.state.recommendation_lane  # type: ignore[attr-defined]
    for user in ("lena", "nobody"):
        before = lane.answered
        fast = client.get(f"/v1/users/{user}/recommendations?k=4&now=1700000100", headers=read)
        assert lane.answered == before + 1
        routed = client.get(f"/v1/users/{user}/recommendations?k=4&k=4&now=1700000100", headers=read)
        assert lane.answered == before + 1
        assert fast.status_code == routed.status_code == 200
        assert fast.json() == routed.json()
        assert fast.headers["content-type"] == routed.headers["content-type"]
    before = lane.answered
    assert client.get(PATH, headers={"X-API-Key": "tr_wrong"}).status_code == 401
    assert client.get(PATH, headers={"X-API-Key": keys["ingest"]}).status_code == 403
    bad = client.get(PATH + "?k=0", headers=read)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "k"]
    assert lane.answered == before
    text = client.get("/metrics").text
    assert 'tiderec_requests_total{route="/v1/users/{user_id:path}/recommendations",status="200"}' in text


def test_a_forgotten_user_is_not_served_from_a_kept_state(setup: Setup) -> None:
    client, keys, _ = setup
    read, admin = {"X-API-Key": keys["read"]}, {"X-API-Key": keys["admin"]}
    events = [{"user_id": "mo", "item_id": f"s{i}", "ts": 1_700_000_000 + i, "event_type": "view"} for i in range(5)]
    client.post("/v1/events", json={"events": events}, headers={"X-API-Key": keys["ingest"]})
    known = client.get("/v1/users/mo/recommendations?now=1700000100", headers=read).json()
    assert known["fallback"] is None
    assert client.delete("/v1/users/mo", headers=admin).json() == {"deleted": True}
    forgotten = client.get("/v1/users/mo/recommendations?now=1700000100", headers=read).json()
    assert forgotten["fallback"] == "popularity"


def test_a_database_that_cannot_answer_the_key_check_gives_503(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key table is read from the database: while it is down, the lane answers as the route does (503 with
    Retry-After), never 500."""
    client, keys, _ = setup
    lane = client.app.state.recommendation_lane  # type: ignore[attr-defined]

    def down(header: str | None, scope: str) -> None:
        raise StorageError("the database is not answering", retry_after=2)

    monkeypatch.setattr(lane, "authorise", down)
    answer = client.get(PATH, headers={"X-API-Key": keys["read"]})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert "not answering" in answer.json()["error"]
