from __future__ import annotations

from tests.conftest import events
from tiderec.data.stats import describe
from tiderec.types import Events


def test_counts_span_sparsity_and_mix() -> None:
    ev = events(
        [("u", "a", 0, "view"), ("u", "b", 60, "cart"), ("v", "a", 1440, "purchase"), (None, "c", 5, "view")],
        ("user_id", "item_id", "ts", "event_type"),
    )
    s = describe(ev)
    assert (s.events, s.users, s.items) == (4, 2, 3)
    assert s.span_days == 1.0
    assert s.sparsity == 1 - 3 / (2 * 3)
    assert s.event_types == {"view": 2, "cart": 1, "purchase": 1}
    assert s.missing["user_id"] == 1
    assert s.per_user.max == 2
    text = s.render()
    assert "events        4" in text
    assert "missing       user_id 1" in text


def test_order_only_time_is_flagged() -> None:
    ev = events([("u", "a", 0)])
    s = describe(Events(ev.frame, {"time": "order", "source": "x"}))
    assert s.time_is_order
    assert "only an order" in s.render()
