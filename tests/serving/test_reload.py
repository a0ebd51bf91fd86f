"""A retrained model is swapped into a running service: requests during the swap all succeed, the next lists
come from the new model, stored user states are recomputed with it, and a broken folder changes nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from tests.serving.conftest import Setup, train_shop_model, write_shop
from tiderec.interest.encoder import model_encoder
from tiderec.serving.app import create_app
from tiderec.serving.keys import pseudonym
from tiderec.serving.service import load_service
from tiderec.train.checkpoint import weights_version
from tiderec.train.registry import load_model


def _scores(client: TestClient, key: str, user: str) -> list[float]:
    got = client.get(f"/v1/users/{user}/recommendations", params={"k": 5}, headers={"X-API-Key": key})
    assert got.status_code == 200, got.text
    return [i["score"] for i in got.json()["items"]]


def test_a_retrained_model_is_swapped_in_without_downtime(tmp_path: Path) -> None:
    cleaned = write_shop(tmp_path)
    folder = tmp_path / "model"
    train_shop_model(cleaned, folder, seed=1)
    service = load_service(cleaned, tmp_path / "db" / "t.sqlite", folder)
    first = service.context.model_version
    assert first == weights_version(folder)
    key = service.keys.create("ops", ["admin"])
    client = TestClient(create_app(service))
    events = [{"user_id": "x", "item_id": f"i{k}", "ts": 1_700_000_000 + 60 * k} for k in range(6)]
    assert client.post("/v1/events", json={"events": events}, headers={"X-API-Key": key}).status_code == 200
    stored = service.store.get(pseudonym(service.secret, "x"))
    assert stored is not None
    assert stored.model_version == first
    before = _scores(client, key, "x")

    train_shop_model(cleaned, folder, seed=2)
    statuses: list[int] = []
    stop, reading = threading.Event(), threading.Event()

    def read() -> None:
        with TestClient(create_app(service)) as other:
            while not stop.is_set():
                for user in ("x", "u1", "nobody"):
                    response = other.get(f"/v1/users/{user}/recommendations", headers={"X-API-Key": key})
                    statuses.append(response.status_code)
                    reading.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert reading.wait(60)  # the swap starts while reads are going on (a busy machine once had none during it)
    swapped = client.post("/v1/model/reload", headers={"X-API-Key": key})
    stop.set()
    reader.join()
    assert swapped.status_code == 200, swapped.text
    second = swapped.json()["model_version"]
    assert swapped.json()["previous_version"] == first
    assert second == weights_version(folder) != first
    assert statuses
    assert set(statuses) == {200}
    assert _scores(client, key, "x") != before
    state = service._state("x")
    assert state.model_version == second
    assert state.model_state is not None
    (expected,) = model_encoder(load_model(folder).model, 8)([state.window])
    np.testing.assert_allclose(state.model_state, expected, rtol=1e-5, atol=1e-6)

    (folder / "model.safetensors").write_bytes(b"not weights")
    broken = client.post("/v1/model/reload", headers={"X-API-Key": key})
    assert 400 <= broken.status_code < 500
    assert "Traceback" not in broken.text
    assert service.context.model_version == second
    assert len(_scores(client, key, "x")) == 5


def test_reload_without_a_model_is_a_clear_error(sqlite_setup: Setup) -> None:
    client, keys, _ = sqlite_setup
    answer = client.post("/v1/model/reload", headers={"X-API-Key": keys["admin"]})
    assert answer.status_code == 400
    assert "without --model" in answer.json()["error"]
    assert client.post("/v1/model/reload", headers={"X-API-Key": keys["read"]}).status_code == 403
