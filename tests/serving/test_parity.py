"""Served = evaluated on a small real slice (Online Retail reference split): the lists the HTTP app serves after
each test user's history was posted as events are the batch path's lists, under both scorings; the model was
trained without item text, so the service runs without a vector store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from fastapi.testclient import TestClient

from tiderec.clean.config import CleanConfig, KCore, Repeats
from tiderec.clean.pipeline import clean
from tiderec.clean.store import write_cleaned
from tiderec.errors import ConfigError
from tiderec.evaluation.parity import batch_lists, compare, history_batches, served_lists, user_key
from tiderec.ingest.datasets import load_dataset
from tiderec.ingest.mapping import ReadOptions
from tiderec.models.interest import InterestModel
from tiderec.models.scorer import TorchScorer
from tiderec.serving.app import create_app
from tiderec.serving.service import Service, load_service
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import Prepared, prepare, save_trained, train_model
from tiderec.train.registry import load_model

USERS = 60


def write_slice(folder: Path, users: int) -> None:
    """The first `users` shoppers of the Online Retail reference split, cleaned into `folder` (no vector store)."""
    ds = load_dataset("online-retail-5core", options=ReadOptions(progress=False))
    first = ds.events.frame["user_id"].unique(maintain_order=True).head(users)
    events = ds.events.with_frame(ds.events.frame.filter(pl.col("user_id").is_in(first.implode())))
    write_cleaned(clean(events, ds.items, CleanConfig(k_core=KCore(1, 1), repeats=Repeats(action="keep"))), folder)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Prepared, Path, Service, TestClient, str]:
    root = tmp_path_factory.mktemp("parity")
    write_slice(root / "cleaned", USERS)
    prepared = prepare(root / "cleaned")
    train = TrainConfig(epochs=2, batch_size=32, max_len=20, threads=1, warmup_steps=2, device="cpu")
    trained = train_model(prepared, "tiderec", train, {"dim": 16, "use_text": False}, progress=False)
    assert isinstance(trained.model, InterestModel)
    trained.model.get_buffer("neighbour_weight").fill_(2.0)  # whatever validation chose, serve the term
    trained.model.set_interests(np.arange(prepared.inter.n_items) % 7)  # the slice has no interest space: give one
    trained.model.get_buffer("shift_weight").fill_(1.0)
    save_trained(root / "model", prepared, trained, {})
    db = root / "tiderec.sqlite"
    service = load_service(root / "cleaned", db, model_dir=root / "model")
    key = service.keys.create("parity", ["ingest", "read", "admin"])
    client = TestClient(create_app(service))
    for body in history_batches(prepared.inter, prepared.split.test, prepared.cleaned.item_vocab):
        assert client.post("/v1/events", json={"events": body}, headers={"X-API-Key": key}).status_code == 200
    return prepared, root / "model", service, client, key


def _fetch(client: TestClient, key: str) -> object:
    def fetch(user: str, now: float, exclude_seen: bool, k: int) -> list[str]:
        params: dict[str, str | int | float] = {"k": k, "now": now, "exclude_seen": str(exclude_seen).lower()}
        answer = client.get(f"/v1/users/{user}/recommendations", params=params, headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.text
        return [i["item_id"] for i in answer.json()["items"]]

    return fetch


@pytest.mark.parametrize("exclude_seen", [False, True], ids=["A-seen-kept", "B-seen-removed"])
def test_served_lists_are_the_batch_lists(
    world: tuple[Prepared, Path, Service, TestClient, str], exclude_seen: bool
) -> None:
    prepared, model_dir, service, client, key = world
    assert service.recommender.item_vectors is None
    saved = load_model(model_dir)
    test = prepared.split.test
    vocab = prepared.cleaned.item_vocab
    batch = batch_lists(TorchScorer("tiderec", saved.model), prepared.inter, test, 20, exclude_seen)
    served = served_lists(_fetch(client, key), test, vocab, exclude_seen)  # type: ignore[arg-type]
    parity = compare(batch, served, test.item, prepared.inter.n_items)
    assert parity.identical == 1.0, parity
    assert parity.served == pytest.approx(parity.batch)


def test_a_rebought_item_reaches_the_list_when_the_repeat_term_ranks_it(
    world: tuple[Prepared, Path, Service, TestClient, str],
) -> None:
    prepared, _, service, client, key = world
    model = service.recommender.model
    assert model is not None
    head = model.scorer.model.repeat_head
    assert isinstance(head, torch.nn.Linear)
    user = int(prepared.split.test.user[0])
    history = {str(e.item_id) for e in service._state(user_key(user)).window}
    saved = head.bias.detach().clone(), head.weight.detach().clone()
    try:
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.tensor([50.0, 0.0]))
        headers = {"X-API-Key": key}
        kept = client.get(f"/v1/users/{user_key(user)}/recommendations?k=5&exclude_seen=false", headers=headers).json()
        removed = client.get(
            f"/v1/users/{user_key(user)}/recommendations?k=5&exclude_seen=true", headers=headers
        ).json()
    finally:
        with torch.no_grad():
            head.bias.copy_(saved[0])
            head.weight.copy_(saved[1])
    assert {i["item_id"] for i in kept["items"]} <= history
    assert not {i["item_id"] for i in removed["items"]} & history
    assert kept["exclude_seen"] is False
    assert removed["exclude_seen"] is True


def test_an_upserted_item_is_a_candidate_and_scored(world: tuple[Prepared, Path, Service, TestClient, str]) -> None:
    _, _, service, client, key = world
    headers = {"X-API-Key": key}
    body = {"items": [{"item_id": "new-lantern", "title": "solar garden lantern", "price": 12.5}]}
    assert client.post("/v1/items", json=body, headers=headers).status_code == 200
    n = len(service.catalogue.vocab)
    everything = client.get("/v1/users/parity-0/recommendations?k=200&exclude_seen=false", headers=headers).json()
    assert len(everything["items"]) == min(200, n)
    assert all(np.isfinite(i["score"]) for i in everything["items"])
    scored = service.recommender.score(service._state("parity-0"), 0, exclude_seen=False)
    row = service.catalogue.vocab.index_of("new-lantern")
    assert row in scored.items.tolist()
    assert np.isfinite(scored.scores[scored.items.tolist().index(row)])


def test_bad_requests_and_cold_users(world: tuple[Prepared, Path, Service, TestClient, str]) -> None:
    _, _, _, client, key = world
    headers = {"X-API-Key": key}
    cold = client.get("/v1/users/never-seen/recommendations?k=3", headers=headers)
    assert cold.status_code == 200
    assert cold.json()["fallback"] == "popularity"
    assert len(cold.json()["items"]) == 3
    bad = client.get("/v1/users/x/recommendations?exclude_seen=maybe", headers=headers)
    assert bad.status_code == 422
    assert "exclude_seen" in bad.text
    assert client.get("/v1/users/x/recommendations?k=0", headers=headers).status_code == 422
    assert client.get("/v1/users/x/recommendations?now=-5", headers=headers).status_code == 422


def test_the_service_rejects_a_start_with_neither_model_nor_vectors(tmp_path: Path) -> None:
    write_slice(tmp_path / "cleaned", 5)
    with pytest.raises(ConfigError, match="no vector store"):
        load_service(tmp_path / "cleaned", tmp_path / "t.sqlite")
