"""The service built from real parts for the serving tests: USE vectors for items and queries, a small intent
classifier trained on the shipped labelled intents, SQLite, the FastAPI app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient

from tiderec.clean.config import CleanConfig, KCore, Repeats
from tiderec.clean.pipeline import clean
from tiderec.clean.store import write_cleaned
from tiderec.clean.vocab import Vocabulary
from tiderec.data.space import InterestSpace
from tiderec.dynamics.lasting import History, LastingModel, fit_lasting
from tiderec.ingest.datasets import data_root
from tiderec.interest.state import InterestContext
from tiderec.interest.store import SQLStateStore
from tiderec.query.entities import Lexicon
from tiderec.query.intent import IntentModel, read_intents
from tiderec.query.softmax import fit_softmax
from tiderec.query.understand import QueryUnderstander
from tiderec.recommender import Recommender
from tiderec.serving.app import Limits, create_app
from tiderec.serving.keys import KeyStore
from tiderec.serving.service import Catalogue, Service
from tiderec.storage import Database
from tiderec.text.encode import encode_items
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig
from tiderec.text.store import write_vectors
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import prepare, save_trained, train_model
from tiderec.types import Events, Items

COLOURS = ["red", "blue", "green", "black", "grey"]
SHOES = [f"{c} running shoe" for c in COLOURS] + [f"{c} trail running shoe" for c in COLOURS]
TENTS = [f"{c} camping tent" for c in COLOURS] + [f"{c} family dome tent" for c in COLOURS]


Setup = tuple[TestClient, dict[str, str], str]
"""The app's test client, one key per scope, and the database (a SQLite path or a postgresql:// URL)."""


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """The service on each database the suite can start (the same tests run against SQLite and PostgreSQL)."""
    if request.param == "postgres":
        return build(tmp_path_factory.mktemp("serve"), fresh_postgres(request.getfixturevalue("postgres_url")))
    return build(tmp_path_factory.mktemp("serve"), None)


@pytest.fixture(scope="module")
def sqlite_setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """The service on SQLite only (for the long fuzzing run)."""
    return build(tmp_path_factory.mktemp("serve"), None)


def fresh_postgres(url: str) -> str:
    """`url` with every table dropped, so each test module starts from an empty database."""
    db = Database(url)
    db.execute("DROP SCHEMA public CASCADE")
    db.execute("CREATE SCHEMA public")
    db.close()
    return url


def build(root: Path, database: str | None) -> Setup:
    encoder = load_encoder(EncoderConfig(name="use", threads=2))
    titles = SHOES + TENTS
    vectors = encoder.encode_passages(titles)
    prices = np.array([30.0 + 10 * i for i in range(10)] + [100.0 + 50 * i for i in range(10)])
    ids = [f"s{i}" for i in range(10)] + [f"t{i}" for i in range(10)]
    vocab = Vocabulary.from_ids(pl.Series(ids))
    space = InterestSpace(np.array([0] * 10 + [1] * 10), ["running shoes", "tents"], "test", None)
    rows = read_intents(data_root() / "queries" / "intents.dev.jsonl")
    rng = np.random.default_rng(0)
    picked = []
    for key in sorted({(r.lang, r.intent) for r in rows}):
        group = [r for r in rows if (r.lang, r.intent) == key]
        picked += [group[i] for i in rng.permutation(len(group))[:40]]
    classifier = fit_softmax(encoder.encode_queries([r.text for r in picked]), [r.intent for r in picked])
    intents = IntentModel(encoder, classifier)
    catalogue = Catalogue(vocab, titles, prices, space)
    context = InterestContext(vectors, space.codes)
    db = database or str(root / "tiderec.sqlite")
    keys = KeyStore(Database(db), b"test-secret")
    service = Service(
        catalogue, context, Recommender(None, vectors, prices, titles), SQLStateStore(db), keys, b"test-secret",
        QueryUnderstander(intents, Lexicon.of()), encoder,
    )  # fmt: skip
    issued = {s: keys.create(f"{s}-{root.name}", [s]) for s in ("ingest", "read", "admin")}
    return TestClient(create_app(service, Limits(max_batch=50))), issued, db


SHOP_PRODUCTS = ["running shoe", "camping tent", "coffee mug", "rain jacket", "yoga mat", "phone case"]
SHOP_COLOURS = ["red", "blue", "green", "black", "white"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def write_shop(root: Path) -> Path:
    """A small shop for tests that start a real service: 30 items with titles (i0-i4 running shoes, i5-i9
    camping tents, ...), 40 users walking a cycle over them, cleaned into ROOT/cleaned with USE vectors in
    ROOT/vectors; returns the cleaned folder."""
    titles = [f"{c} {p}" for p in SHOP_PRODUCTS for c in SHOP_COLOURS]
    items = Items.from_frame(pl.DataFrame({"item_id": [f"i{k}" for k in range(30)], "title": titles}))
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        item = int(rng.integers(30))
        for k in range(10):
            rows.append((f"u{u}", f"i{item}", T0 + timedelta(days=u, hours=k), "view"))
            item = (item + 1) % 30
    events = Events.from_frame(pl.DataFrame(rows, schema=["user_id", "item_id", "ts", "event_type"], orient="row"))
    result = clean(events, items, CleanConfig(k_core=KCore(1, 1), repeats=Repeats(action="keep")))
    write_cleaned(result, root / "cleaned")
    store, _ = encode_items(result.items, load_encoder(EncoderConfig(name="use", threads=1)), progress=False)
    write_vectors(store, root / "vectors")
    return root / "cleaned"


def train_shop_model(cleaned: Path, out: Path, seed: int) -> None:
    """A small interest model of the shop (2 epochs, dim 16), written to `out`."""
    prepared = prepare(cleaned)
    config = TrainConfig(epochs=2, batch_size=32, max_len=8, seed=seed, threads=1, warmup_steps=2)
    save_trained(out, prepared, train_model(prepared, "tiderec", config, {"dim": 16}, progress=False), {})


def toy_lasting(n: int = 80) -> LastingModel:
    """A lasting-move model fitted on two-interest histories: half move to the second interest for good, half
    come back."""
    out = []
    for i in range(n):
        codes = [0] * 8 + ([1] * 12 if i % 2 else [1, 1, 1, 0, 0])
        out.append(History(np.array(codes), np.arange(len(codes)) * 3_600_000_000, np.zeros(len(codes), np.int8)))
    return fit_lasting(out, 2, ks=(2, 3))
