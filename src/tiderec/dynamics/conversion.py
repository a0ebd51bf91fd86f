"""Will a viewed item be carted or bought? A calibrated probability per (user, candidate item).

At a cut time T, every item a user viewed in the `lookback` before T is a candidate; its label is whether the
user carts or buys it within `horizon` after T. Features use events before T only: the user's views of the item
and how recent the last one is, the item's popularity and conversion rate, the user's conversion rate, and how
much of the user's long- and short-term interest the item's interest holds. A logistic regression (L2, standard-
ised features) gives the probability; the baseline uses item popularity and view recency alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiderec.data.interactions import Interactions
from tiderec.types import EVENT_TYPES, HOUR_US

VIEW = EVENT_TYPES.index("view")
CONVERT = (EVENT_TYPES.index("cart"), EVENT_TYPES.index("purchase"))
FEATURES = (
    "log views of the item",
    "log hours since its last view",
    "log item views",
    "item conversion rate",
    "user conversion rate",
    "interest share, long term",
    "interest share, last 10 events",
    "same interest as the last event",
)
BASELINE = (2, 1)
"""Columns of the popularity + recency baseline: item views, hours since the last view."""


@dataclass(frozen=True)
class Examples:
    """Candidates at one or more cut times: features float[m, len(FEATURES)], labels float[m], users int64[m]."""

    features: np.ndarray
    labels: np.ndarray
    users: np.ndarray

    @staticmethod
    def concat(parts: list[Examples]) -> Examples:
        return Examples(
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.users for p in parts]),
        )


def examples_at(
    inter: Interactions, codes: np.ndarray, cut_us: int, lookback_h: float = 24.0, horizon_h: float = 24.0
) -> Examples:
    """Candidates and labels at one cut time (see the module docstring); codes int64[n_items] (-1 none)."""
    before = inter.ts < cut_us
    item_views = np.bincount(inter.item[before & (inter.event_type == VIEW)], minlength=inter.n_items)
    converts = np.isin(inter.event_type, CONVERT)
    item_conv = np.bincount(inter.item[before & converts], minlength=inter.n_items)
    rows: list[list[float]] = []
    labels: list[float] = []
    users: list[int] = []
    for u in range(inter.n_users):
        lo, hi = int(inter.offsets[u]), int(inter.offsets[u + 1])
        ts, items, types = inter.ts[lo:hi], inter.item[lo:hi], inter.event_type[lo:hi]
        past = ts < cut_us
        if not past.any():
            continue
        recent_views = past & (ts >= cut_us - lookback_h * HOUR_US) & (types == VIEW)
        if not recent_views.any():
            continue
        future = (ts >= cut_us) & (ts < cut_us + horizon_h * HOUR_US) & np.isin(types, CONVERT)
        bought = set(items[future].tolist())
        past_items, past_types, past_ts = items[past], types[past], ts[past]
        past_codes = codes[past_items]
        known = past_codes[past_codes >= 0]
        long_share = np.bincount(known, minlength=1) / max(len(known), 1) if len(known) else np.zeros(1)
        short = known[-10:]
        short_share = np.bincount(short, minlength=1) / max(len(short), 1) if len(short) else np.zeros(1)
        user_views = max(int((past_types == VIEW).sum()), 1)
        user_conv = float(np.isin(past_types, CONVERT).sum()) / user_views
        last_code = int(past_codes[-1])
        for item in np.unique(items[recent_views]).tolist():
            mine = past_items == item
            views = int((mine & (past_types == VIEW)).sum())
            hours = (cut_us - int(past_ts[mine].max())) / HOUR_US
            code = int(codes[item])
            rows.append(
                [
                    np.log1p(views),
                    np.log1p(hours),
                    np.log1p(item_views[item]),
                    item_conv[item] / max(item_views[item], 1),
                    user_conv,
                    long_share[code] if 0 <= code < len(long_share) else 0.0,
                    short_share[code] if 0 <= code < len(short_share) else 0.0,
                    float(code >= 0 and code == last_code),
                ]
            )
            labels.append(float(item in bought))
            users.append(u)
    return Examples(np.array(rows).reshape(-1, len(FEATURES)), np.array(labels), np.array(users, dtype=np.int64))
