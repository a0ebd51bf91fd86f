"""The HTTP service end to end: real multilingual encoder for items and queries, real FastAPI app, on SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from tests.serving.conftest import TENTS, Setup, build
from tiderec.storage import Database


def _top(client: TestClient, key: str, user: str, k: int = 3) -> list[str]:
    response = client.get(f"/v1/users/{user}/recommendations", params={"k": k}, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def test_health_and_keys(setup: Setup) -> None:
    client, keys, _ = setup
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["items"] == 20
    assert client.get("/v1/users/u/recommendations").status_code == 401
    assert client.get("/v1/users/u/recommendations", headers={"X-API-Key": "tr_wrong"}).status_code == 401
    denied = client.post("/v1/events", json={"events": []}, headers={"X-API-Key": keys["read"]})
    assert denied.status_code == 403
    assert "ingest" in denied.json()["detail"]


def test_an_event_and_a_query_change_the_very_next_list(setup: Setup) -> None:
    client, keys, db = setup
    ingest, read = {"X-API-Key": keys["ingest"]}, keys["read"]
    shoes = [{"user_id": "ana", "item_id": f"s{i}", "ts": 1_700_000_000 + i, "event_type": "view"} for i in range(4)]
    assert client.post("/v1/events", json={"events": shoes}, headers=ingest).json()["accepted"] == 4
    assert all(i.startswith("s") for i in _top(client, read, "ana"))
    tents = [{"user_id": "ana", "item_id": f"t{i}", "ts": 1_700_000_100 + i, "event_type": "cart"} for i in range(6)]
    client.post("/v1/events", json={"events": tents}, headers=ingest)
    assert _top(client, read, "ana", 1)[0].startswith("t")
    client.post("/v1/events", json={"events": shoes * 3}, headers=ingest)
    answer = client.post("/v1/query", json={"text": "a camping tent under 300, not red", "user_id": "ana"},
                         headers={"X-API-Key": read}).json()  # fmt: skip
    assert answer["price"] == {"min": None, "max": 300.0}
    assert answer["applied_to_user"] is True
    top = _top(client, read, "ana", 3)
    assert all(i.startswith("t") for i in top)
    titles = {f"t{i}": TENTS[i] for i in range(10)}
    assert all("red" not in titles[i] for i in top)
    stored = Database(db).query("SELECT user_id FROM interest_state")
    assert ("ana",) not in stored
    interests = client.get("/v1/users/ana/interests", headers={"X-API-Key": read}).json()
    assert interests["events"] == 10
    assert interests["query"]["text"] == "a camping tent under 300, not red"


def test_concurrent_requests_are_scored_together_and_get_their_own_lists(setup: Setup) -> None:
    """Requests that arrive together go through the micro-batcher as one batch; each list equals the list the
    same request gets alone, and a bad user id in the batch does not fail the others."""
    client, keys, _ = setup
    ingest, read = {"X-API-Key": keys["ingest"]}, {"X-API-Key": keys["read"]}
    events = [{"user_id": f"b{u}", "item_id": f"{'st'[u % 2]}{(u + i) % 10}", "ts": 1_700_000_000 + i,
               "event_type": "view"} for u in range(6) for i in range(u + 1)]  # fmt: skip
    assert client.post("/v1/events", json={"events": events}, headers=ingest).status_code == 200
    users = [f"b{u}" for u in range(6)] + ["nobody"]
    params = {"k": 4, "now": 1_700_000_100}
    alone = [client.get(f"/v1/users/{u}/recommendations", params=params, headers=read).json() for u in users]
    batches = client.app.state.recommendation_batches  # type: ignore[attr-defined]
    before = len(batches.sizes)

    async def together() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            calls = [http.get(f"/v1/users/{u}/recommendations", params=params, headers=read) for u in users]
            calls.append(http.get("/v1/users/b1/recommendations", params={"k": 0}, headers=read))
            return await asyncio.gather(*calls)

    answers = asyncio.run(together())
    assert [a.json() for a in answers[:-1]] == alone
    assert answers[-1].status_code == 422
    assert max(list(batches.sizes)[before:]) > 1
    assert alone[-1]["fallback"] == "popularity"


def test_bad_requests_get_precise_errors(setup: Setup) -> None:
    client, keys, _ = setup
    ingest = {"X-API-Key": keys["ingest"]}
    missing = client.post("/v1/events", json={"events": [{"item_id": "s1", "ts": 1}]}, headers=ingest)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "events", 0, "user_id"]
    liked = {"user_id": "x", "item_id": "s1", "ts": 1, "event_type": "like"}
    kind = client.post("/v1/events", json={"events": [liked]}, headers=ingest)
    assert kind.status_code == 400
    assert "expected one of" in kind.json()["error"]
    many = [{"user_id": "x", "item_id": "s1", "ts": i} for i in range(51)]
    assert client.post("/v1/events", json={"events": many}, headers=ingest).status_code == 413
    too_big = client.get("/v1/users/x/recommendations", params={"k": 999}, headers={"X-API-Key": keys["read"]})
    assert too_big.status_code == 422
    assert "Traceback" not in too_big.text


def test_forget_a_user_and_metrics(setup: Setup) -> None:
    client, keys, _ = setup
    event = {"user_id": "bo", "item_id": "s1", "ts": 1_700_000_000}
    client.post("/v1/events", json={"events": [event]}, headers={"X-API-Key": keys["ingest"]})
    assert client.delete("/v1/users/bo", headers={"X-API-Key": keys["read"]}).status_code == 403
    assert client.delete("/v1/users/bo", headers={"X-API-Key": keys["admin"]}).json() == {"deleted": True}
    assert client.get("/v1/users/bo/interests", headers={"X-API-Key": keys["read"]}).json()["events"] == 0
    text = client.get("/metrics").text
    assert 'tiderec_requests_total{route="/v1/events",status="200"}' in text


def test_new_items_are_recommendable_at_once(setup: Setup) -> None:
    client, keys, _ = setup
    admin, read = {"X-API-Key": keys["admin"]}, {"X-API-Key": keys["read"]}
    new = {"items": [{"item_id": "k1", "title": "purple inflatable kayak paddle", "price": 90, "category": "tents"}]}
    assert client.post("/v1/items", json=new, headers={"X-API-Key": keys["ingest"]}).status_code == 403
    assert client.post("/v1/items", json=new, headers=admin).json() == {"inserted": 1, "updated": 0, "items": 21}
    client.post("/v1/query", json={"text": "inflatable kayak paddle", "user_id": "cy"}, headers=read)
    assert _top(client, keys["read"], "cy", 1) == ["k1"]
    event = {"user_id": "cy", "item_id": "k1", "ts": 1_700_000_000, "event_type": "cart"}
    assert client.post("/v1/events", json={"events": [event]}, headers=admin).json()["unknown_items"] == 0


def test_upserted_items_survive_a_restart(setup: Setup, tmp_path: Path) -> None:
    client, keys, db = setup
    new = {"items": [{"item_id": "k2", "title": "orange waterproof kayak dry bag", "price": 40}]}
    assert client.post("/v1/items", json=new, headers={"X-API-Key": keys["admin"]}).status_code == 200
    restarted, again, _ = build(tmp_path, db)
    read = {"X-API-Key": again["read"]}
    restarted.post("/v1/query", json={"text": "waterproof kayak dry bag", "user_id": "dee"}, headers=read)
    assert _top(restarted, again["read"], "dee", 1) == ["k2"]
    changed = {"items": [{"item_id": "k2", "title": "orange waterproof kayak dry bag", "price": 45}]}
    answer = restarted.post("/v1/items", json=changed, headers={"X-API-Key": again["admin"]}).json()
    assert answer["updated"] == 1
    assert answer["inserted"] == 0


def test_trends_between_the_last_two_days(setup: Setup) -> None:
    client, keys, _ = setup
    day1, day2 = 1_800_000_000, 1_800_000_000 + 86_400
    events = [{"user_id": f"p{i}", "item_id": f"s{i % 10}", "ts": day1 + i} for i in range(40)]
    events += [{"user_id": f"p{i}", "item_id": f"t{i % 10}", "ts": day1 + 100 + i} for i in range(10)]
    events += [{"user_id": f"q{i}", "item_id": f"t{i % 10}", "ts": day2 + i} for i in range(40)]
    events += [{"user_id": f"q{i}", "item_id": f"s{i % 10}", "ts": day2 + 100 + i} for i in range(10)]
    for start in range(0, len(events), 50):
        chunk = {"events": events[start : start + 50]}
        assert client.post("/v1/events", json=chunk, headers={"X-API-Key": keys["ingest"]}).status_code == 200
    body = client.get("/v1/trends", headers={"X-API-Key": keys["read"]}).json()
    moves = {m["interest"]: m["direction"] for m in body["moves"]}
    assert moves == {"tents": "rising", "running shoes": "falling"}
    assert len(body["days"]) == 2


def test_dashboard_page(setup: Setup) -> None:
    client, keys, _ = setup
    assert client.get("/dashboard/ana").status_code == 401
    page = client.get("/dashboard/ana", params={"key": keys["read"]})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for section in ("timeline", "migrations", "recommendations", "trends"):
        assert f"id='{section}'" in page.text
    assert "<svg" in page.text
    assert "<rect" in page.text


def test_a_user_id_with_a_slash_is_read_and_forgotten_like_any_other(setup: Setup) -> None:
    client, keys, _ = setup
    admin = {"X-API-Key": keys["admin"]}
    events = [{"user_id": "shop/42", "item_id": f"t{i}", "ts": 1_700_000_000 + i} for i in range(3)]
    assert client.post("/v1/events", json={"events": events}, headers=admin).status_code == 200
    assert client.get("/v1/users/shop%2F42/interests", headers=admin).json()["events"] == 3
    listed = client.get("/v1/users/shop%2F42/recommendations", headers=admin)
    assert listed.json()["user_id"] == "shop/42"
    assert client.get("/v1/users/shop/interests", headers=admin).json()["events"] == 0
    assert client.delete("/v1/users/shop%2F42", headers=admin).json() == {"deleted": True}
    assert client.get("/v1/users/shop%2F42/interests", headers=admin).json()["events"] == 0
