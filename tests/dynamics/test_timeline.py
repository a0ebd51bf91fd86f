from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from tiderec.data.space import InterestSpace
from tiderec.dynamics.plot import timeline_html
from tiderec.dynamics.timeline import granularity_for, timeline, window_start
from tiderec.types import DAY_US

SPACE = InterestSpace(np.array([0, 0, 1, 2]), ["running", "outdoor", "books"], "test")


def test_windows_follow_the_span() -> None:
    assert granularity_for(3 * DAY_US) == "day"
    assert granularity_for(30 * DAY_US) == "week"
    assert granularity_for(400 * DAY_US) == "month"
    monday = window_start(int(datetime(2024, 1, 10, 15, tzinfo=UTC).timestamp() * 1e6), "week")
    assert monday == datetime(2024, 1, 8, tzinfo=UTC)


def test_timeline_shares_per_window() -> None:
    day0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    items = np.array([0, 1, 2, -1, 2, 3])
    ts = np.array([day0, day0 + 1, day0 + 2, day0 + 3, day0 + DAY_US, day0 + DAY_US + 5])
    weights = np.array([1.0, 1.0, 2.0, 1.0, 5.0, 5.0])
    tl = timeline("u", items, ts, weights, SPACE)
    assert tl.granularity == "day"
    first, second = tl.windows
    assert first.events == 4
    assert first.interests == [("running", 0.5), ("outdoor", 0.5)]
    assert second.interests == [("outdoor", 0.5), ("books", 0.5)]
    assert "2024-01-02" in tl.render()
    assert timeline_html(tl).count("<rect") == 4
    assert timeline("u", np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([]), SPACE).windows == []
