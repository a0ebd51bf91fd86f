from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tiderec.config import from_dict
from tiderec.errors import ConfigError, RequestError
from tiderec.interest.codec import decode, encode
from tiderec.interest.state import (
    Event,
    InterestConfig,
    InterestContext,
    InterestState,
    batch_state,
    initial,
    update,
    update_many,
)
from tiderec.interest.store import SQLStateStore
from tiderec.types import DAY_US

N_ITEMS, DIM = 40, 8


def _context(window: int = 10, encoder: bool = False) -> InterestContext:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    categories = np.arange(N_ITEMS) % 5
    categories[3] = -1

    def encode_window(windows: Sequence[Sequence[Event]]) -> list[np.ndarray]:
        return [np.array([len(w), sum(e.item for e in w)], dtype=np.float32) for w in windows]

    return InterestContext(vectors, categories, InterestConfig(window=window), encode_window if encoder else None)


def _events(n: int = 60, seed: int = 1) -> list[Event]:
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(1, 6 * 3600, size=n)) * 1_000_000
    items = rng.integers(-1, N_ITEMS, size=n)
    types = rng.integers(0, 5, size=n)
    return [Event(f"i{i}", int(i), int(t), int(k)) for i, t, k in zip(items, ts, types, strict=True)]


def _replay(events: Sequence[Event], context: InterestContext) -> InterestState:
    state = initial("u", context)
    for event in events:
        state = update(state, event, context)
    return state


def _assert_same(a: InterestState, b: InterestState) -> None:
    assert a.window == b.window
    assert (a.n_events, a.unknown_items, a.duplicates) == (b.n_events, b.unknown_items, b.duplicates)
    for pa, pb in ((a.long, b.long), (a.short, b.short)):
        assert pa.ref_us == pb.ref_us
        assert pa.weight == pytest.approx(pb.weight, rel=1e-9)
        np.testing.assert_allclose(pa.vector, pb.vector, rtol=1e-9, atol=1e-12)
        assert set(pa.categories) == set(pb.categories)
        for c in pa.categories:
            assert pa.categories[c] == pytest.approx(pb.categories[c], rel=1e-9, abs=1e-300)
    assert a.seen == b.seen
    if a.model_state is None:
        assert b.model_state is None
    else:
        assert b.model_state is not None
        np.testing.assert_array_equal(a.model_state, b.model_state)


def test_replay_equals_batch_with_disorder_and_duplicates() -> None:
    context = _context(encoder=True)
    events = _events()
    rng = np.random.default_rng(3)
    arrival = [events[i] for i in rng.permutation(len(events))]
    arrival += [arrival[5], arrival[17]]
    replayed = _replay(arrival, context)
    _assert_same(replayed, batch_state("u", arrival, context))
    assert replayed.duplicates == 2
    assert replayed.keys == batch_state("u", arrival, context).keys


def test_a_batch_of_several_users_equals_event_by_event_updates() -> None:
    calls: list[int] = []
    base = _context(encoder=True)
    assert base.encoder is not None
    encoder = base.encoder

    def counting(windows: Sequence[Sequence[Event]]) -> list[np.ndarray]:
        calls.append(len(windows))
        return encoder(windows)

    context = replace(base, encoder=counting)
    events = _events(40)
    keyed = [("a" if k % 3 else "b", e) for k, e in enumerate(events)] + [("a", events[1])]
    start = {"a": initial("a", context), "b": _replay(events[:2], context)}
    calls.clear()
    batched = update_many(start, keyed, context)
    assert calls == [2]
    for key in ("a", "b"):
        one_by_one = start[key]
        for user, event in keyed:
            if user == key:
                one_by_one = update(one_by_one, event, base)
        _assert_same(batched[key], one_by_one)
    assert batched["a"].duplicates == 1


def test_arrival_order_does_not_change_the_state() -> None:
    context = _context()
    events = _events()
    shuffled = [events[i] for i in np.random.default_rng(9).permutation(len(events))]
    a, b = _replay(events, context), _replay(shuffled, context)
    assert a.window == b.window
    assert a.window == tuple(sorted(events, key=lambda e: e.ts_us))[-10:]
    assert a.long.weight == pytest.approx(b.long.weight, rel=1e-9)
    np.testing.assert_allclose(a.short.vector, b.short.vector, rtol=1e-9, atol=1e-12)


def test_duplicates_are_idempotent() -> None:
    context = _context()
    events = _events(20)
    once = _replay(events, context)
    twice = _replay(events + events[-5:], context)
    assert twice.duplicates == 5
    assert twice.window == once.window
    assert twice.n_events == once.n_events
    np.testing.assert_array_equal(twice.long.vector, once.long.vector)


def test_unknown_items_join_the_window_not_the_profiles() -> None:
    context = _context()
    known = update(initial("u", context), Event("i1", 1, 10, 0), context)
    after = update(known, Event("new-sku", -1, 20, 4), context)
    assert after.unknown_items == 1
    assert after.window[-1].item_id == "new-sku"
    assert after.long == known.long


def test_profiles_decay_by_half_life_and_weight_by_type() -> None:
    context = _context()
    state = update(initial("u", context), Event("i1", 1, 0, 4), context)
    state = update(state, Event("i2", 2, 30 * DAY_US, 0), context)
    assert state.long.weight == pytest.approx(5.0 * 0.5 + 1.0)
    assert state.long.categories[1] == pytest.approx(2.5)
    ((top, share),) = state.long.top_categories(1)
    assert top == 1
    assert share == pytest.approx(2.5 / 3.5)
    assert state.short.weight == pytest.approx(1.0)


def test_empty_history_and_bad_events() -> None:
    context = _context()
    empty = batch_state("new", [], context)
    assert empty.window == ()
    assert empty.n_events == 0
    assert empty.long.top_categories() == []
    with pytest.raises(RequestError, match="event type index 9"):
        update(empty, Event("i1", 1, 0, 9), context)
    with pytest.raises(RequestError, match="outside the catalogue of 40"):
        update(empty, Event("i99", 99, 0, 0), context)
    with pytest.raises(ConfigError, match="unknown event types"):
        from_dict(InterestConfig, {"type_weights": {"like": 2.0}})


def test_seen_items_are_distinct_bounded_and_a_format_1_record_still_reads() -> None:
    context = _context(encoder=True)
    state = _replay(_events(), context)
    known = [e.item for e in _events() if e.item >= 0]
    by_last = tuple(reversed(dict.fromkeys(reversed(known))))
    assert sorted(state.seen) == sorted(set(known))
    assert state.seen == by_last
    small = replace(context, config=InterestConfig(seen_limit=2))
    assert _replay(_events(), small).seen == by_last[-2:] == batch_state("u", _events(), small).seen
    blob = encode(state)
    (size,) = struct.unpack_from("<I", blob)
    header = json.loads(blob[4 : 4 + size])
    header["format"] = 1
    del header["seen"]
    header["keys"] = [str(k) for k in state.keys]
    head = json.dumps(header).encode()
    arrays = blob[4 + size : len(blob) - 4 * len(state.seen) - 8 * len(state.keys)]
    old = decode(struct.pack("<I", len(head)) + head + arrays)
    assert old.keys == state.keys
    assert old.seen == tuple(dict.fromkeys(e.item for e in state.window if e.item >= 0))
    assert old.model_version == ""  # its model state held the moment term: recomputed on read


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_store_commits_and_forgets(tmp_path: Path, database: str, request: pytest.FixtureRequest) -> None:
    context = _context(encoder=True)
    state = _replay(_events(), context)
    _assert_same(decode(encode(state)), state)
    target = str(tmp_path / "state.sqlite")
    if database == "postgres":
        target = request.getfixturevalue("postgres_url")
        SQLStateStore(target).db.execute("DROP TABLE interest_state")
    store = SQLStateStore(target)
    assert store.get("u") is None
    store.put(state)
    again = SQLStateStore(target)
    loaded = again.get("u")
    assert loaded is not None
    _assert_same(loaded, state)
    assert loaded.keys == state.keys
    if database == "sqlite":
        assert again.db.query("PRAGMA journal_mode")[0][0] == "wal"
    store.put_many([state, replace(state, user_id="v")])
    assert again.count() == 2
    assert again.delete("u")
    assert not again.delete("u")
    assert store.get("u") is None
