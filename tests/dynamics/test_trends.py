from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from tiderec.dynamics.trends import (
    FORECAST_GRID,
    backtest,
    forecast,
    interest_counts,
    rising_falling,
    select_forecast,
    window_index,
)
from tiderec.types import DAY_US

DAY0 = int(datetime(2024, 1, 3, 12, tzinfo=UTC).timestamp() * 1e6)


def test_windows_cover_the_range_including_empty_ones() -> None:
    ts = np.array([DAY0, DAY0 + 3 * DAY_US])
    index, starts = window_index(ts, "day")
    assert index.tolist() == [0, 3]
    assert len(starts) == 4
    _, weeks = window_index(ts, "week")
    assert weeks[0] == datetime(2024, 1, 1, tzinfo=UTC)
    months, starts_m = window_index(np.array([DAY0, DAY0 + 40 * DAY_US]), "month")
    assert months.tolist() == [0, 1]
    assert starts_m == [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)]
    counts = interest_counts(ts, np.array([1, -1]), 2, "day")
    assert counts.counts.tolist() == [[0, 1], [0, 0], [0, 0], [0, 0]]


def test_a_tripled_share_is_significant_and_noise_is_not() -> None:
    counts = np.array([[100.0, 100.0, 20.0], [100.0, 100.0, 60.0]])
    trends = {t.interest: t for t in rising_falling(counts)}
    assert trends[2].q < 0.01
    assert trends[2].ratio > 2
    assert trends[0].q > 0.05
    assert trends[0].ratio < 1


def test_the_seasonal_mean_beats_naive_on_a_weekly_pattern() -> None:
    rng = np.random.default_rng(0)
    weekly = np.array([10, 12, 11, 13, 30, 5, 0], dtype=float)
    counts = np.stack([rng.poisson(np.tile(weekly, 12)) for _ in range(3)], axis=1).astype(float)
    wape = backtest(counts, period=7, origins=28)
    assert wape["tiderec"] < wape["seasonal naive"] < wape["naive"]
    assert forecast(counts, 7).shape == (3,)
    assert forecast(counts[:2], 7) == pytest.approx(counts[:2].mean(axis=0))


def test_level_times_weekday_profile_follows_a_trend_and_selection_never_sees_the_test_windows() -> None:
    rng = np.random.default_rng(1)
    weekly = np.array([10, 12, 11, 13, 30, 5, 0], dtype=float)
    growth = np.linspace(1.0, 3.0, 7 * 20)
    counts = np.stack([rng.poisson(np.tile(weekly, 20) * growth) for _ in range(4)], axis=1).astype(float)
    wape = backtest(counts, period=7, origins=28)
    assert wape["tiderec"] < 0.9 * wape["seasonal naive"]
    assert (forecast(counts[: 7 * 3 - 1], 7) >= 0).all()
    chosen, valid = select_forecast(counts, 7, 28)
    assert chosen in FORECAST_GRID
    assert valid == pytest.approx(backtest(counts, 7, 28, chosen, skip=28)["tiderec"])
    scrambled = counts.copy()
    scrambled[-28:] = rng.permutation(scrambled[-28:].ravel()).reshape(28, 4) * 10
    assert select_forecast(scrambled, 7, 28) == (chosen, valid)
