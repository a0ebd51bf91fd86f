"""The feed of declared interest changes across users (`GET /v1/migrations`): recorded on ingest, listed by
pseudonym in recording order with cursor paging and `since`, precise errors, forgotten with the user; on SQLite
and on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from tests.serving.conftest import Setup, build, toy_lasting
from tiderec.dynamics.migration import could_declare_many, detect
from tiderec.storage import Database

SHOES_THEN_TENTS = [f"s{i % 10}" for i in range(8)] + [f"t{i}" for i in range(6)]
"""Eight running shoes, then six tents: one change (running shoes -> tents) at the third tent."""
BACK_AND_FORTH = SHOES_THEN_TENTS[:12] + [f"s{i}" for i in range(8)] + [f"t{i}" for i in range(4)]
"""Shoes, a tent excursion, shoes again, then tents: two changes."""
T0 = 1_700_000_000


def _events(user: str, items: list[str], start: int = T0) -> dict[str, Any]:
    return {"events": [{"user_id": user, "item_id": item, "ts": start + i} for i, item in enumerate(items)]}


def _feed(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/migrations", params=params, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _post(client: TestClient, keys: dict[str, str], user: str, items: list[str]) -> dict[str, Any]:
    response = client.post("/v1/events", json=_events(user, items), headers={"X-API-Key": keys["ingest"]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _pseudonym(client: TestClient, keys: dict[str, str], user: str) -> str:
    answer = client.get(f"/v1/users/{user}/interests", headers={"X-API-Key": keys["read"]}).json()
    return str(answer["pseudonym"])


def test_the_test_events_make_detect_declare() -> None:
    """The sequences these tests post, as interest codes (s*: 0, t*: 1), declare one and two changes."""
    for items, n in ((SHOES_THEN_TENTS, 1), (BACK_AND_FORTH, 2)):
        codes = np.array([0 if i.startswith("s") else 1 for i in items], dtype=np.int64)
        assert could_declare_many(codes[None, :], np.array([0]))[0]
        assert len(detect(codes)) == n


def test_the_feed_lists_a_change_by_pseudonym(setup: Setup) -> None:
    client, keys, db = setup
    started = time.time_ns() // 1000
    _post(client, keys, "feed-ana", SHOES_THEN_TENTS)
    interests = client.get("/v1/users/feed-ana/interests", headers={"X-API-Key": keys["read"]}).json()
    (declared,) = interests["migrations"]
    user = interests["pseudonym"]
    assert user != "feed-ana"
    mine = [c for c in _feed(client, keys["read"])["changes"] if c["user"] == user]
    assert mine == [
        {"user": user, "at_us": declared["at"], "recorded_us": mine[0]["recorded_us"], "kind": declared["kind"],
         "confidence": declared["confidence"], "from": declared["from"], "to": declared["to"],
         "lasting_probability": None}
    ]  # fmt: skip
    assert mine[0]["at_us"] == (T0 + 10) * 1_000_000
    assert mine[0]["from"][0]["interest"] == "running shoes"
    assert mine[0]["to"][0]["interest"] == "tents"
    assert started <= mine[0]["recorded_us"] <= time.time_ns() // 1000
    assert "feed-ana" not in client.get("/v1/migrations", headers={"X-API-Key": keys["read"]}).text
    stored = Database(db).query("SELECT user_key FROM interest_changes")
    assert (user,) in stored
    assert ("feed-ana",) not in stored


def test_paging_walks_every_change_once_in_recording_order(setup: Setup) -> None:
    client, keys, db = setup
    _post(client, keys, "feed-bo", BACK_AND_FORTH)
    _post(client, keys, "feed-cy", SHOES_THEN_TENTS)
    everything = _feed(client, keys["read"], limit=1000)
    assert everything["next_cursor"] is None
    assert len(everything["changes"]) >= 3
    walked, cursor, pages = [], None, 0
    while True:
        page = _feed(client, keys["read"], limit=1, **({} if cursor is None else {"cursor": cursor}))
        walked += page["changes"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert page["changes"], "a page with a next_cursor holds a change"
    assert walked == everything["changes"]
    assert pages == len(walked)
    seqs = Database(db).query("SELECT user_key, at_us FROM interest_changes ORDER BY seq")
    assert [(c["user"], c["at_us"]) for c in walked] == [(str(u), int(a)) for u, a in seqs]
    two = _feed(client, keys["read"], limit=2)
    assert two["changes"] == walked[:2]
    assert _feed(client, keys["read"], limit=1000, cursor=two["next_cursor"])["changes"] == walked[2:]


def test_since_by_recording_time_as_epoch_seconds_or_iso(setup: Setup) -> None:
    client, keys, _ = setup
    _post(client, keys, "feed-dee", SHOES_THEN_TENTS)
    user = _pseudonym(client, keys, "feed-dee")
    (row,) = [c for c in _feed(client, keys["read"])["changes"] if c["user"] == user]
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=row["recorded_us"])
    later = at + timedelta(microseconds=1)

    def users(since: str) -> list[str]:
        return [c["user"] for c in _feed(client, keys["read"], since=since, limit=1000)["changes"]]

    for moment in (at, at.replace(tzinfo=None), at.astimezone(timezone(timedelta(hours=-5)))):
        assert user in users(moment.isoformat())
    assert user in users(f"{row['recorded_us'] / 1e6:.6f}")
    assert user in users(str(row["recorded_us"] // 1_000_000))
    assert user in users("2000-01-01")
    for moment in (later, later.replace(tzinfo=None)):
        assert user not in users(moment.isoformat())
    assert user not in users(f"{(row['recorded_us'] + 1) / 1e6:.6f}")
    assert users(f"{time.time():.6f}") == []


def test_bad_feed_requests_get_precise_errors(setup: Setup) -> None:
    client, keys, _ = setup
    assert client.get("/v1/migrations").status_code == 401
    denied = client.get("/v1/migrations", headers={"X-API-Key": keys["ingest"]})
    assert denied.status_code == 403
    assert "read" in denied.json()["detail"]
    read = {"X-API-Key": keys["read"]}
    soon = datetime.now(UTC) + timedelta(days=1)
    for since in (f"{time.time() + 3600:.0f}", soon.isoformat(), soon.replace(tzinfo=None).isoformat()):
        future = client.get("/v1/migrations", params={"since": since}, headers=read)
        assert future.status_code == 400, since
        assert future.json()["error"].startswith("since:")
        assert "in the future" in future.json()["error"]
    for since in ("yesterday", "", "-5", "1e9", "2024-13-01", "1700000000000000", "nan"):
        bad = client.get("/v1/migrations", params={"since": since}, headers=read)
        assert bad.status_code == 400, since
        assert bad.json()["error"].startswith("since: expected epoch seconds")
    for cursor in ("abc", "", "-1", "1.5", "9" * 30):
        bad = client.get("/v1/migrations", params={"cursor": cursor}, headers=read)
        assert bad.status_code == 400, cursor
        assert bad.json()["error"].startswith("cursor: expected")
    for limit in (0, 1001, "many"):
        assert client.get("/v1/migrations", params={"limit": limit}, headers=read).status_code == 422


def test_a_repost_records_nothing_again_and_forgetting_removes_the_changes(setup: Setup) -> None:
    client, keys, db = setup
    _post(client, keys, "feed-eve", BACK_AND_FORTH)
    user = _pseudonym(client, keys, "feed-eve")

    def mine() -> list[dict[str, Any]]:
        return [c for c in _feed(client, keys["read"], limit=1000)["changes"] if c["user"] == user]

    first = mine()
    assert len(first) == 2
    assert _post(client, keys, "feed-eve", BACK_AND_FORTH)["duplicates"] == len(BACK_AND_FORTH)
    assert mine() == first
    assert client.delete("/v1/users/feed-eve", headers={"X-API-Key": keys["admin"]}).json() == {"deleted": True}
    assert mine() == []
    assert Database(db).query("SELECT COUNT(*) FROM interest_changes WHERE user_key = ?", (user,)) == [(0,)]
    assert client.get("/v1/users/feed-eve/interests", headers={"X-API-Key": keys["read"]}).json()["events"] == 0


def test_a_change_is_recorded_once_by_the_batch_whose_event_declares_it(setup: Setup) -> None:
    """Events one batch at a time: the change appears with the third tent, dated at it, and later batches (whose
    events make its kind less provisional in the interests answer) record nothing more."""
    client, keys, _ = setup
    ingest = {"X-API-Key": keys["ingest"]}
    events = _events("feed-fay", SHOES_THEN_TENTS)["events"]
    client.post("/v1/events", json={"events": events[:8]}, headers=ingest)
    user = _pseudonym(client, keys, "feed-fay")
    counts = []
    for event in events[8:]:
        assert client.post("/v1/events", json={"events": [event]}, headers=ingest).status_code == 200
        counts.append(len([c for c in _feed(client, keys["read"], limit=1000)["changes"] if c["user"] == user]))
    assert counts == [0, 0, 1, 1, 1, 1]
    (row,) = [c for c in _feed(client, keys["read"], limit=1000)["changes"] if c["user"] == user]
    (now,) = client.get("/v1/users/feed-fay/interests", headers={"X-API-Key": keys["read"]}).json()["migrations"]
    assert row["at_us"] == now["at"] == (T0 + 10) * 1_000_000
    assert row["confidence"] <= now["confidence"]


def test_changes_and_new_interests_carry_the_lasting_probability(tmp_path_factory: Any) -> None:
    client, keys, _ = build(tmp_path_factory.mktemp("lasting"), None)
    service = client.app.state.service  # type: ignore[attr-defined]
    service.lasting = toy_lasting()
    _post(client, keys, "feed-lea", SHOES_THEN_TENTS)
    answer = client.get("/v1/users/feed-lea/interests", headers={"X-API-Key": keys["read"]}).json()
    (declared,) = answer["migrations"]
    assert 0.0 <= declared["lasting_probability"] <= 1.0
    run = answer["new_interests"]
    assert run["interests"] == ["tents"]
    assert run["events"] == 6
    assert 0.0 <= run["probability"] <= 1.0
    assert isinstance(run["called_lasting"], bool)
    (change,) = _feed(client, keys["read"])["changes"]
    assert change["lasting_probability"] == declared["lasting_probability"]
    page = client.get("/dashboard/feed-lea", params={"key": keys["read"]}).text
    assert "P(lasting)" in page
    assert "new now: tents, 6 events so far" in page
    home = _events("feed-lea", ["s1"], T0 + 100)  # home again: no run of new interests in progress
    assert client.post("/v1/events", json=home, headers={"X-API-Key": keys["ingest"]}).status_code == 200
    again = client.get("/v1/users/feed-lea/interests", headers={"X-API-Key": keys["read"]}).json()
    assert again["new_interests"] is None
