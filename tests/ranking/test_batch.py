"""Batch recommendation from JSON Lines histories with a trained model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tiderec.clean.config import CleanConfig, KCore, Repeats
from tiderec.clean.pipeline import clean
from tiderec.clean.store import write_cleaned
from tiderec.errors import BadRowError
from tiderec.explore.chooser import policy_chooser
from tiderec.explore.greedy import EpsilonConfig, EpsilonGreedy, Greedy
from tiderec.ranking.batch import recommend_file
from tiderec.testing.worlds import cyclic_world
from tiderec.train.checkpoint import SavedModel
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import prepare, save_trained, train_model
from tiderec.train.registry import load_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> SavedModel:
    root = tmp_path_factory.mktemp("rec")
    write_cleaned(
        clean(cyclic_world(), config=CleanConfig(k_core=KCore(1, 1), repeats=Repeats(action="keep"))), root / "cleaned"
    )
    prepared = prepare(root / "cleaned")
    cfg = TrainConfig(epochs=10, batch_size=16, lr=0.01, max_len=8, threads=2, warmup_steps=5)
    trained = train_model(prepared, "tiderec", cfg, {"dim": 16}, progress=False)
    save_trained(root / "model", prepared, trained, {})
    return load_model(root / "model")


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n", encoding="utf-8")
    return path


def test_recommends_counts_unknown_items_and_falls_back(saved: SavedModel, tmp_path: Path) -> None:
    histories = [
        {
            "user_id": "known",
            "history": [{"item_id": "i3", "ts": "2024-03-01T10:00:00Z"}, {"item_id": "i4", "ts": 1709290000}],
        },
        {
            "user_id": "mixed",
            "history": [{"item_id": "nope", "ts": 1}, {"item_id": "i7", "ts": 2, "event_type": "cart"}],
        },
        {"user_id": "cold", "history": [{"item_id": "nope2"}]},
    ]
    out = io.StringIO()
    report = recommend_file(saved, write_lines(tmp_path / "h.jsonl", histories), out, k=5, exclude_seen=True)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["user_id"] for r in rows] == ["known", "mixed", "cold"]
    assert all(len(r["items"]) == 5 and len(r["scores"]) == 5 for r in rows)
    assert "i4" not in rows[0]["items"]
    assert rows[0]["scores"] == sorted(rows[0]["scores"], reverse=True)
    assert (report.unknown_items, report.popularity_fallbacks, report.users, report.events) == (2, 1, 3, 5)


def test_malformed_lines_are_located_or_skipped(saved: SavedModel, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [{"user_id": "a", "history": []}, "{not json", {"user_id": "b"}])
    with pytest.raises(BadRowError, match=r"bad\.jsonl:2: bad history line"):
        recommend_file(saved, path, io.StringIO(), k=3)
    out = io.StringIO()
    report = recommend_file(saved, path, out, k=3, skip_bad=True)
    assert report.users == 1
    assert len(report.bad_lines) == 2


def test_a_policy_serves_the_lists_with_propensities_and_replays(saved: SavedModel, tmp_path: Path) -> None:
    histories: list[object] = [
        {"user_id": f"u{n}", "history": [{"item_id": f"i{n}", "ts": 1}, {"item_id": f"i{n + 1}", "ts": 2}]}
        for n in range(6)
    ]
    path = write_lines(tmp_path / "h.jsonl", histories)
    plain, greedy, explore, again = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()
    recommend_file(saved, path, plain, k=3)
    recommend_file(saved, path, greedy, k=3, choose=policy_chooser(Greedy(), 3, candidates=10))
    always = EpsilonGreedy(EpsilonConfig(eps_min=1.0, eps_max=1.0))
    recommend_file(saved, path, explore, k=3, choose=policy_chooser(always, 3, candidates=10, seed=4))
    recommend_file(saved, path, again, k=3, choose=policy_chooser(always, 3, candidates=10, seed=4))
    top = [json.loads(line) for line in plain.getvalue().splitlines()]
    chosen = [json.loads(line) for line in greedy.getvalue().splitlines()]
    assert [r["items"] for r in top] == [r["items"] for r in chosen]
    assert all(r["propensities"] == [1.0, 1.0, 1.0] for r in chosen)
    explored = [json.loads(line) for line in explore.getvalue().splitlines()]
    assert explore.getvalue() == again.getvalue()
    for row, base in zip(explored, top, strict=True):
        assert row["explored"] == [True, True, True]
        assert not set(row["items"]) & set(base["items"])
        assert row["propensities"] == [round(1 / 7, 6)] * 3
        assert row["policy"][0].startswith("epsilon")
