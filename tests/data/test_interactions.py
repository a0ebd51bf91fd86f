from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import events
from tiderec.clean.vocab import Vocabulary
from tiderec.data.interactions import Interactions
from tiderec.errors import DatasetError
from tiderec.types import EVENT_TYPES


def test_user_major_time_ordered_csr() -> None:
    ev = events(
        [("u2", "b", 5, "cart"), ("u1", "a", 3, "view"), ("u2", "a", 1, "view"), ("u1", "c", 3, "purchase")],
        ("user_id", "item_id", "ts", "event_type"),
    )
    inter = Interactions.from_events(ev)
    assert inter.user_vocab.ids.to_list() == ["u2", "u1"]
    assert inter.offsets.tolist() == [0, 2, 4]
    assert inter.items_of(0).tolist() == [inter.item_vocab.index_of("a"), inter.item_vocab.index_of("b")]
    assert inter.items_of(1).tolist() == [inter.item_vocab.index_of("a"), inter.item_vocab.index_of("c")]
    assert [EVENT_TYPES[t] for t in inter.event_type[2:]] == ["view", "purchase"]
    assert np.isnan(inter.value).all()


def test_take_keeps_vocabularies_and_rebuilds_offsets() -> None:
    inter = Interactions.from_events(events([("u", "a", 0), ("u", "b", 1), ("v", "a", 2)]))
    sub = inter.take(inter.item == inter.item_vocab.index_of("a"))
    assert len(sub) == 2
    assert sub.n_users == 2
    assert sub.lengths().tolist() == [1, 1]


def test_unknown_ids_and_missing_values_raise() -> None:
    ev = events([("u", "a", 0), ("v", "b", 1)])
    with pytest.raises(DatasetError, match="missing from the item_vocab"):
        Interactions.from_events(ev, item_vocab=Vocabulary.from_ids(ev.frame["item_id"].head(1)))
    with pytest.raises(DatasetError, match="user_id has missing values"):
        Interactions.from_events(events([(None, "a", 0)]))
