"""A change detector learned from the data's own histories, with no labels: splice the start of one real user's
history onto another's whole history (so the change point is known) and fit a logistic regression that tells
the first events of a spliced-in user from a user's own new interests.

Candidates are events in an interest the user never had before. The detector reads the history before a
candidate and the `look_ahead` events from it, so it declares `look_ahead - 1` events after the candidate (or,
as a `hindsight` labeller of past histories, dates the change at the candidate); it fires when the probability
passes a threshold chosen on held-out histories (the best F1 on their splices among thresholds that alarm on at
most `max_alarm_share` of those users unspliced). The same splices and F1 serve the benchmark
(benchmarks/bench_migration.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tiderec.dynamics.logistic import Logistic, fit_logistic
from tiderec.errors import ConfigError, DatasetError

MIN_EVENTS = 20
"""Histories with fewer known events take no part in splicing (too short to have interests to leave)."""
B_EVENTS = 30
"""A splice appends this many events of the second user."""
WITHIN = 10
"""A declaration this many events or fewer after the change point finds it."""
FEATURES = (
    "log events before",
    "distinct interests / events before",
    "user's rate of new interests (smoothed)",
    "new interests among the last 10 events",
    "entropy of the interests before",
    "share of the look-ahead in new interests",
    "leading run of new interests",
    "distinct new interests in the look-ahead",
    "largest old share in the look-ahead",
    "mean old share in the look-ahead",
    "mean log popularity of the look-ahead",
    "previous event was a new interest",
)

Splice = tuple[np.ndarray, int]
"""A spliced sequence of interest codes and its change point (the index of the second user's first event)."""


def dominant(codes: np.ndarray) -> int:
    """The most frequent known interest code of a sequence (int64[n], -1 = unknown)."""
    known = codes[codes >= 0]
    if not len(known):
        raise DatasetError("a sequence without known interests has no dominant interest")
    return int(np.bincount(known).argmax())


def splice(sequences: Sequence[np.ndarray], n: int, rng: np.random.Generator, b_events: int = B_EVENTS) -> list[Splice]:
    """n splices: user A's whole sequence, then the first b_events of a user B whose dominant interest differs
    (sequences without known interests take no part)."""
    sequences = [s for s in sequences if (s >= 0).any()]
    tops = [dominant(s) for s in sequences]
    if len(set(tops)) < 2:
        raise DatasetError("splicing needs histories with at least two different dominant interests")
    out: list[Splice] = []
    while len(out) < n:
        a, b = rng.integers(0, len(sequences), size=2)
        if tops[a] != tops[b]:
            out.append((np.concatenate([sequences[a], sequences[b][:b_events]]), len(sequences[a])))
    return out


def splice_outcomes(spliced: Sequence[Splice], alarms: Callable[[np.ndarray], list[int]]) -> np.ndarray:
    """int64[n, 3] per splice: found (the first declaration within WITHIN events of the change point finds it),
    false alarms (every other declaration), delay (-1 when not found) of alarms(codes) -> declared positions."""
    out = np.zeros((len(spliced), 3), dtype=np.int64)
    for i, (codes, cp) in enumerate(spliced):
        hits = sorted(alarms(codes))
        first = next((h for h in hits if cp <= h < cp + WITHIN), None)
        out[i] = (first is not None, len(hits) - (first is not None), -1 if first is None else first - cp)
    return out


def outcome_f1(outcomes: np.ndarray) -> np.ndarray:
    """F1 of splice outcomes int[..., n, 3] (as splice_outcomes gives), float[...]."""
    tp, fp = outcomes[..., 0].sum(axis=-1), outcomes[..., 1].sum(axis=-1)
    precision, recall = tp / np.maximum(tp + fp, 1), tp / max(outcomes.shape[-2], 1)
    f1: np.ndarray = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return f1


def splice_score(
    spliced: Sequence[Splice], plain: Sequence[np.ndarray], alarms: Callable[[np.ndarray], list[int]]
) -> dict[str, float | int]:
    """Precision, recall, F1 and median delay of alarms(codes) -> declared positions on the splices (see
    splice_outcomes), and the share of unspliced sequences with any declaration."""
    share = float(np.mean([len(alarms(s)) > 0 for s in plain])) if plain else 0.0
    return outcome_score(splice_outcomes(spliced, alarms), len(plain), share)


def outcome_score(outcomes: np.ndarray, n_plain: int, plain_alarmed: float) -> dict[str, float | int]:
    """The scores of splice outcomes int[n, 3], with the number of unspliced sequences and the share alarmed."""
    tp, fp = int(outcomes[:, 0].sum()), int(outcomes[:, 1].sum())
    delays = outcomes[outcomes[:, 0] == 1, 2]
    return {
        "splices": len(outcomes),
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(len(outcomes), 1),
        "f1": float(outcome_f1(outcomes)),
        "median_delay": float(np.median(delays)) if len(delays) else float("nan"),
        "false_alarms_in_splices": fp,
        "unspliced_users": n_plain,
        "unspliced_users_with_alarm": plain_alarmed,
    }


def candidates(
    known: np.ndarray, look_ahead: int, min_history: int, log_pop: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate positions int64[m] of a sequence of known codes int64[n] (events in a new interest, after
    min_history events, with look_ahead events from them) and their features float[m, len(FEATURES)]."""
    counts: dict[int, int] = {}
    first = np.zeros(len(known), dtype=bool)
    positions: list[int] = []
    rows: list[list[float]] = []
    for p, code in enumerate(known.tolist()):
        new = code not in counts
        if new and min_history <= p <= len(known) - look_ahead:
            positions.append(p)
            rows.append(_features(known, p, look_ahead, min_history, counts, first, log_pop))
        first[p] = new
        counts[code] = counts.get(code, 0) + 1
    return np.array(positions, dtype=np.int64), np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES))


def _features(
    known: np.ndarray,
    p: int,
    look_ahead: int,
    min_history: int,
    counts: dict[int, int],
    first: np.ndarray,
    log_pop: np.ndarray,
) -> list[float]:
    ahead = known[p : p + look_ahead]
    old = np.array([counts.get(c, 0) for c in ahead.tolist()], dtype=np.float64) / p
    fresh = old == 0
    lead = len(ahead) if fresh.all() else int(np.argmin(fresh))
    shares = np.array(list(counts.values()), dtype=np.float64) / p
    earlier = first[min_history:p]
    return [
        float(np.log(p)),
        len(counts) / p,
        (float(earlier.sum()) + 1.0) / (len(earlier) + 2.0),
        float(first[max(0, p - 10) : p].mean()),
        float(-(shares * np.log(shares)).sum()),
        float(fresh.mean()),
        float(lead),
        float(len(set(ahead[fresh].tolist()))),
        float(old.max()),
        float(old.mean()),
        float(log_pop[ahead].mean()),
        float(first[p - 1]),
    ]


def _fire(scored: Scored, threshold: float, look_ahead: int, hindsight: bool = False) -> list[tuple[int, int, float]]:
    """(candidate, declared at, probability) for candidates at or over threshold, none starting inside the last
    declared run; declared look_ahead - 1 events after the candidate, or at it with hindsight."""
    out: list[tuple[int, int, float]] = []
    free_from = 0
    for p, prob in zip(scored[0].tolist(), scored[1].tolist(), strict=True):
        if p >= free_from and prob >= threshold:
            out.append((p, p if hindsight else p + look_ahead - 1, prob))
            free_from = p + look_ahead
    return out


@dataclass(frozen=True)
class SpliceDetector:
    """A fitted detector: the logistic model over FEATURES, its threshold, the interests' log popularity
    float[n_interests] in the histories it learned from, and its out-of-fold F1 and share of users alarmed
    (what to expect on more histories like them)."""

    model: Logistic
    threshold: float
    look_ahead: int
    min_history: int
    log_pop: np.ndarray
    hindsight: bool = False
    fold_f1: float = float("nan")
    fold_alarm_share: float = float("nan")

    def scores(self, known: np.ndarray) -> Scored:
        """Candidate positions int64[m] of known codes int64[n] and their probabilities float[m]."""
        if len(known) and (known.min() < 0 or known.max() >= len(self.log_pop)):
            raise DatasetError(f"change detector: interest codes must lie in [0, {len(self.log_pop)})")
        positions, features = candidates(known, self.look_ahead, self.min_history, self.log_pop)
        return positions, self.model.predict(features) if len(positions) else np.zeros(0)

    def alarms(self, known: np.ndarray) -> list[tuple[int, int, float]]:
        """(candidate, declared at, probability) in known codes int64[n], in order."""
        return _fire(self.scores(known), self.threshold, self.look_ahead, self.hindsight)


def fit_detector(
    sequences: Sequence[np.ndarray],
    n_interests: int,
    rng: np.random.Generator,
    look_ahead: int = 4,
    min_history: int = 5,
    n_splices: int = 600,
    max_alarm_share: float = 0.05,
    hindsight: bool = False,
) -> SpliceDetector:
    """Learn a detector from users' interest sequences (int64 codes, -1 skipped) with at least MIN_EVENTS known
    events: the threshold is chosen on out-of-fold scores (two folds of users, each scored by a model fit on the
    other), the returned model is fit on all of them."""
    if not 1 <= look_ahead <= B_EVENTS or min_history < 1 or not 0.0 < max_alarm_share <= 1.0:
        raise ConfigError(
            f"change detector: look_ahead in [1, {B_EVENTS}], min_history >= 1, max_alarm_share in (0, 1]"
        )
    pool = [s[s >= 0] for s in sequences]
    pool = [s for s in pool if len(s) >= MIN_EVENTS]
    if len(pool) < 20:
        raise DatasetError(f"learning a change detector needs >= 20 histories of >= {MIN_EVENTS} known events")
    counts = np.bincount(np.concatenate(pool), minlength=n_interests)[:n_interests]
    log_pop = np.log1p(counts.astype(np.float64))
    order = rng.permutation(len(pool))
    folds = [[pool[i] for i in order[j::2]] for j in (0, 1)]
    spliced = [splice(fold, n_splices // 2, rng) for fold in folds]
    scored: dict[int, Scored] = {}
    for j in (0, 1):
        model = _fit(folds[j], spliced[j], look_ahead, min_history, log_pop, hindsight)
        held = SpliceDetector(model, 1.0, look_ahead, min_history, log_pop)
        scored |= {id(s): held.scores(s) for s in [*folds[1 - j], *(c for c, _ in spliced[1 - j])]}
    threshold, f1, share = _threshold(
        scored, [*folds[0], *folds[1]], [*spliced[0], *spliced[1]], look_ahead, max_alarm_share, hindsight
    )
    model = _fit(pool, [*spliced[0], *spliced[1]], look_ahead, min_history, log_pop, hindsight)
    return SpliceDetector(model, threshold, look_ahead, min_history, log_pop, hindsight, f1, share)


Scored = tuple[np.ndarray, np.ndarray]
"""Candidate positions int64[m] and their probabilities float[m]."""


def _fit(
    plain: list[np.ndarray],
    spliced: list[Splice],
    look_ahead: int,
    min_history: int,
    log_pop: np.ndarray,
    hindsight: bool,
) -> Logistic:
    """The logistic model: candidates whose declaration would find a change point (dated within WITHIN events
    after it) are positive, all others negative."""
    rows, labels = [], []
    lag = 0 if hindsight else look_ahead - 1
    for codes, cp in [*spliced, *((s, len(s) + WITHIN) for s in plain)]:
        positions, features = candidates(codes, look_ahead, min_history, log_pop)
        rows.append(features)
        labels.append((positions + lag >= cp) & (positions + lag < cp + WITHIN))
    y = np.concatenate(labels)
    if not y.any():
        raise DatasetError("change detector: no candidate finds a change point in the splices (histories too short?)")
    return fit_logistic(np.concatenate(rows), y.astype(np.float64))


def _threshold(
    scored: dict[int, Scored],
    plain: list[np.ndarray],
    spliced: list[Splice],
    look_ahead: int,
    max_alarm_share: float,
    hindsight: bool,
) -> tuple[float, float, float]:
    """(threshold, F1, share of plain sequences alarmed) of best F1 on the splices among thresholds alarming on
    <= max_alarm_share of the plain sequences; one over every score (never firing: F1 0) when none does better.
    `scored` by id of sequence."""
    every = np.concatenate([probs for _, probs in scored.values()])
    never = float(np.nextafter(every.max(), np.inf)) if len(every) else 1.0
    best = (never, 0.0, 0.0)
    for threshold in np.unique(np.quantile(every, np.linspace(0.5, 0.9995, 150))).tolist() if len(every) else []:

        def alarms(codes: np.ndarray, t: float = threshold) -> list[int]:
            return [at for _, at, _ in _fire(scored[id(codes)], t, look_ahead, hindsight)]

        result = splice_score(spliced, plain, alarms)
        f1, share = float(result["f1"]), float(result["unspliced_users_with_alarm"])
        if share <= max_alarm_share and f1 > best[1]:
            best = (threshold, f1, share)
    return best
