"""Population dynamics: interests rising and falling between windows (with significance), and a short-horizon
demand forecast per interest against naive and seasonal-naive baselines (rolling-origin backtest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy import stats

from tiderec.config import STRICT
from tiderec.dynamics.timeline import Granularity
from tiderec.types import DAY_US

PERIOD: dict[str, int | None] = {"day": 7, "week": None, "month": 12}
"""Seasonal period in windows: weekly seasonality for days, yearly for months, none known for weeks."""


@dataclass(frozen=True)
class Counts:
    """Events per window and interest: counts float[W, K]; starts[w] is window w's start (UTC); windows
    without events are included (zeros)."""

    starts: list[datetime]
    counts: np.ndarray
    granularity: Granularity


def window_index(ts_us: np.ndarray, granularity: Granularity) -> tuple[np.ndarray, list[datetime]]:
    """(int64[n] window of each timestamp, counted from the first; the start of every window in range)."""
    first = datetime.fromtimestamp(int(ts_us.min()) / 1e6, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "month":
        dates = [datetime.fromtimestamp(t / 1e6, UTC) for t in ts_us.tolist()]
        index = np.array([(d.year - first.year) * 12 + d.month - first.month for d in dates], dtype=np.int64)
        starts = []
        for w in range(int(index.max()) + 1):
            month = first.month - 1 + w
            starts.append(datetime(first.year + month // 12, month % 12 + 1, 1, tzinfo=UTC))
        return index, starts
    if granularity == "week":
        first -= timedelta(days=first.weekday())
    step = DAY_US * (7 if granularity == "week" else 1)
    index = (ts_us - int(first.timestamp() * 1e6)) // step
    return index.astype(np.int64), [first + timedelta(microseconds=step * w) for w in range(int(index.max()) + 1)]


def interest_counts(ts_us: np.ndarray, codes: np.ndarray, n_interests: int, granularity: Granularity) -> Counts:
    """Counts of events (codes int64[n], -1 skipped) per window and interest."""
    known = codes >= 0
    index, starts = window_index(ts_us, granularity)
    flat = index[known] * n_interests + codes[known]
    counts = np.bincount(flat, minlength=len(starts) * n_interests).reshape(len(starts), n_interests)
    return Counts(starts, counts.astype(float), granularity)


@dataclass(frozen=True)
class Trend:
    """One interest between two windows: events then and now, share of all events then and now, the share
    ratio, the p-value of 'its share did not change' (exact binomial, conditional on its two counts) and
    the Benjamini-Hochberg q-value over all interests tested."""

    interest: int
    before: int
    now: int
    share_before: float
    share_now: float
    ratio: float
    p: float
    q: float


def rising_falling(counts: np.ndarray, now: int = -1, before: int = -2, min_events: int = 10) -> list[Trend]:
    """Every interest with at least min_events over the two windows, most significant first."""
    a, b = counts[now], counts[before]
    total_a, total_b = a.sum(), b.sum()
    if total_a == 0 or total_b == 0:
        return []
    expected = total_a / (total_a + total_b)
    tested = np.flatnonzero(a + b >= min_events)
    p = np.array([stats.binomtest(int(a[k]), int(a[k] + b[k]), expected).pvalue for k in tested])
    q = _bh(p)
    out = [
        Trend(int(k), int(b[k]), int(a[k]), b[k] / total_b, a[k] / total_a,
              (a[k] / total_a + 1e-12) / (b[k] / total_b + 1e-12), float(pk), float(qk))
        for k, pk, qk in zip(tested, p, q, strict=True)
    ]  # fmt: skip
    return sorted(out, key=lambda t: (t.q, -abs(np.log(t.ratio))))


def _bh(p: np.ndarray) -> np.ndarray:
    if len(p) == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(q)
    out[order] = np.minimum(q, 1.0)
    return out


@dataclass(frozen=True)
class ForecastConfig:
    """seasons: past periods the season profile is averaged over; level_periods: past periods the level is the
    mean of; shared_profile: one profile from all interests' total (steady for sparse interests) instead of one
    per interest. Defaults chosen on validation origins of Online Retail (benchmarks/bench_trends.py)."""

    __pydantic_config__ = STRICT

    seasons: int = 8
    level_periods: int = 2
    shared_profile: bool = True


FORECAST_GRID = tuple(
    ForecastConfig(seasons, level, shared) for seasons in (4, 8) for level in (1, 2) for shared in (True, False)
)
"""The configurations `select_forecast` chooses among."""


def forecast(counts: np.ndarray, period: int | None, config: ForecastConfig | None = None) -> np.ndarray:
    """float[K]: next window's events per interest from counts float[T, K]. With a known period and two periods
    of history: level (mean window of the last `level_periods` periods, so a trend moves it at once) x season
    profile (the next window's share of its period's mean over the last `seasons` periods: weekday effects, a
    closed day). Without: the mean of the last 3 windows."""
    cfg = config or ForecastConfig()
    if period is None or len(counts) < 2 * period:
        recent: np.ndarray = counts[-3:].mean(axis=0)
        return recent
    levels = min(cfg.level_periods, len(counts) // period)
    level = counts[-period * levels :].mean(axis=0)
    seasons = [j for j in range(1, cfg.seasons + 1) if len(counts) >= period * j]
    same = sum(counts[-period * j] for j in seasons)
    mean = sum(counts[len(counts) - period * j : len(counts) - period * (j - 1)].mean(axis=0) for j in seasons)
    if cfg.shared_profile:
        same, mean = np.full_like(level, np.sum(same)), np.full_like(level, np.sum(mean))
    profile = np.divide(same, mean, out=np.zeros_like(level, dtype=float), where=np.asarray(mean) > 0)
    out: np.ndarray = level * profile
    return out


def backtest(
    counts: np.ndarray, period: int | None, origins: int, config: ForecastConfig | None = None, skip: int = 0
) -> dict[str, float]:
    """Weighted absolute percentage error (sum |error| / sum actual, over interests and origins) of one-step
    forecasts from `origins` windows ending `skip` windows before the last: tiderec's forecast, naive (last
    value), seasonal naive (the same window one period back)."""
    errors: dict[str, float] = {"tiderec": 0.0, "naive": 0.0, "seasonal naive": 0.0}
    actual_total = 0.0
    end = len(counts) - skip
    for t in range(max(1, end - origins), end):
        history, actual = counts[:t], counts[t]
        actual_total += actual.sum()
        errors["tiderec"] += np.abs(forecast(history, period, config) - actual).sum()
        errors["naive"] += np.abs(history[-1] - actual).sum()
        seasonal = history[-period] if period is not None and len(history) >= period else history[-1]
        errors["seasonal naive"] += np.abs(seasonal - actual).sum()
    return {k: v / max(actual_total, 1e-12) for k, v in errors.items()}


def select_forecast(counts: np.ndarray, period: int | None, origins: int) -> tuple[ForecastConfig, float]:
    """The grid configuration with the lowest WAPE on the `origins` windows before the last `origins` (the
    validation origins; the last ones stay for the test), and that WAPE."""
    scored = [
        (backtest(counts, period, origins, cfg, skip=origins)["tiderec"], k) for k, cfg in enumerate(FORECAST_GRID)
    ]
    wape, best = min(scored)
    return FORECAST_GRID[best], wape
