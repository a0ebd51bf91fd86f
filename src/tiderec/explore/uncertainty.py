"""How unsure we are of a user's interests right now, in [0, 1]: drives the exploration rate (drift-aware
exploration). New or sparse users and users whose recent categories diverge from their past explore more."""

from __future__ import annotations

import numpy as np


def sparsity(n_events: int, half_at: float = 10.0) -> float:
    """1 for a user with no history, 0.5 at `half_at` events, towards 0 for long histories."""
    return half_at / (half_at + n_events)


def category_drift(categories: np.ndarray, recent: int = 5) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between the category mix of the last `recent` events and
    that of the events before them; 0 when either side is empty. categories: int64[n], oldest first, -1 unknown."""
    known = categories[categories >= 0]
    if len(known) <= recent:
        return 0.0
    past, now = known[:-recent], known[-recent:]
    values, inverse = np.unique(np.concatenate([past, now]), return_inverse=True)
    p = np.bincount(inverse[: len(past)], minlength=len(values)) / len(past)
    q = np.bincount(inverse[len(past) :], minlength=len(values)) / len(now)
    m = (p + q) / 2
    return float(np.clip((_kl(p, m) + _kl(q, m)) / 2, 0.0, 1.0))


def interest_uncertainty(
    categories: np.ndarray, recent: int = 5, half_at: float = 10.0, migration: float = 0.0
) -> float:
    """max(sparsity, recent-vs-past category drift, a migration detector's confidence when one is given)."""
    return max(sparsity(len(categories), half_at), category_drift(categories, recent), migration)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float((p[mask] * np.log2(p[mask] / q[mask])).sum())
