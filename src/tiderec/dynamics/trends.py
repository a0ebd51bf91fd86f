"""Population dynamics: interests rising and falling between windows (with significance), and a short-horizon
demand forecast per interest against naive and seasonal-naive baselines (rolling-origin backtest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy import stats

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


def forecast(counts: np.ndarray, period: int | None, seasons: int = 4) -> np.ndarray:
    """float[K]: next window's events per interest — the mean of the same season's last `seasons` values
    when a period is known and enough history exists (damps one-off spikes), else the mean of the last 3."""
    if period is not None and len(counts) >= period:
        lags = [counts[-period * j] for j in range(1, seasons + 1) if len(counts) >= period * j]
        out: np.ndarray = np.mean(lags, axis=0)
        return out
    recent: np.ndarray = counts[-3:].mean(axis=0)
    return recent


def backtest(counts: np.ndarray, period: int | None, origins: int) -> dict[str, float]:
    """Weighted absolute percentage error (sum |error| / sum actual, over interests and origins) of one-step
    forecasts from the last `origins` windows: tiderec's forecast, naive (last value), seasonal naive."""
    errors: dict[str, float] = {"tiderec": 0.0, "naive": 0.0, "seasonal naive": 0.0}
    actual_total = 0.0
    start = max(1, len(counts) - origins)
    for t in range(start, len(counts)):
        history, actual = counts[:t], counts[t]
        actual_total += actual.sum()
        errors["tiderec"] += np.abs(forecast(history, period) - actual).sum()
        errors["naive"] += np.abs(history[-1] - actual).sum()
        seasonal = history[-period] if period is not None and len(history) >= period else history[-1]
        errors["seasonal naive"] += np.abs(seasonal - actual).sum()
    return {k: v / max(actual_total, 1e-12) for k, v in errors.items()}
