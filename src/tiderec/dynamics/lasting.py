"""Lasting move or excursion: at the k-th event of a run of new interests, the probability that the run becomes a
lasting move rather than an excursion. The labels come from the histories' own future, so no splice is needed.

A *run* starts at an event whose interest the user never had (after `min_history` known events) and goes on
while every event is in an interest absent from the history before the run. It is a *lasting move* when it
reaches `LASTING` events before the user returns to an interest they had, an *excursion* when the user returns
sooner; a run the data ends first is unlabelled. One logistic model per k (dynamics/logistic.py) reads the
history before the run and its first k events (`FEATURES`); the interests' own tendency to hold shoppers
(`stickiness`) is learned from the fitting histories, cross-fitted so that a run never sees its own label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiderec.data.interactions import Interactions
from tiderec.dynamics.logistic import Logistic, auc, best_threshold, fit_logistic
from tiderec.errors import ConfigError, DatasetError
from tiderec.types import EVENT_TYPES, HOUR_US

LASTING = 10
"""Events in new interests, before any return, that make a run a lasting move."""
KS: tuple[int, ...] = (2, 3, 5)
"""The run lengths at which a model is fitted (a run at length k uses the model of the largest fitted k <= k)."""
MIN_HISTORY = 5
"""Known events a user must have before a run of new interests can start."""
STRONG = frozenset(EVENT_TYPES.index(t) for t in ("cart", "fav", "purchase"))
"""Event types that commit more than a look."""
FEATURES = (
    "log events before",
    "distinct interests / events before",
    "user's rate of new interests (smoothed)",
    "log past runs resolved",
    "past runs that lasted (smoothed share)",
    "entropy of the interests before",
    "distinct new interests in the run / k",
    "run's last event in its first interest",
    "mean log popularity of the run's interests",
    "stickiness of the run's first interest",
    "mean stickiness of the run's interests",
    "similarity of the run to the history (interest vectors)",
    "log hours from the last event before to the run",
    "log hours spanned by the run so far",
    "strong events in the run (cart, fav, purchase)",
    "strong events before the run",
    "log hours spanned by the history",
    "user's return rate per event of past runs (log, smoothed)",
    "share of the history in its top interest",
    "log events in the day before the run",
    "log mean hours between the run's events",
)


@dataclass(frozen=True)
class History:
    """One user's known events in time order: interest codes int64[n] (>= 0), times int64[n] (µs) and event types
    int8[n] (indices into EVENT_TYPES)."""

    codes: np.ndarray
    ts: np.ndarray
    types: np.ndarray

    def head(self, n: int) -> History:
        """The first n events."""
        return History(self.codes[:n], self.ts[:n], self.types[:n])

    @classmethod
    def of(cls, codes: np.ndarray, ts: np.ndarray, types: np.ndarray) -> History:
        """The events with a known interest (code >= 0) of parallel arrays."""
        if not len(codes) == len(ts) == len(types):
            raise DatasetError(f"history: {len(codes)} codes, {len(ts)} times and {len(types)} types differ")
        known = codes >= 0
        return cls(codes[known].astype(np.int64), ts[known].astype(np.int64), types[known].astype(np.int8))


@dataclass(frozen=True)
class Run:
    """A run of new interests: where it starts (index into the history), its length in events before the first
    return (or the end) and whether a return ended it."""

    start: int
    length: int
    returned: bool

    @property
    def label(self) -> int | None:
        """1: a lasting move; 0: an excursion; None: the history ended before either was known."""
        if self.length >= LASTING:
            return 1
        return 0 if self.returned else None


def user_histories(inter: Interactions, codes: np.ndarray) -> list[History]:
    """Every user's History (in user index order) from interactions and the interest code of each item
    int64[n_items] (-1: none)."""
    return [
        History.of(codes[inter.items_of(u)], inter.ts[inter.offsets[u] : inter.offsets[u + 1]],
                   inter.event_type[inter.offsets[u] : inter.offsets[u + 1]])
        for u in range(inter.n_users)
    ]  # fmt: skip


def runs(codes: np.ndarray, min_history: int = MIN_HISTORY) -> list[Run]:
    """Every run of new interests in known codes int64[n] (see the module docstring), in order."""
    seen: set[int] = set(codes[:min_history].tolist())
    out: list[Run] = []
    values = codes.tolist()
    p = min_history
    while p < len(values):
        if values[p] in seen:
            p += 1
            continue
        q = p
        while q < len(values) and values[q] not in seen:
            q += 1
        out.append(Run(p, q - p, q < len(values)))
        seen.update(values[p:q])
        p = q
    return out


def past_lasting_share(before: Sequence[Run]) -> float:
    """The smoothed share of the resolved runs in `before` (the runs of a history before a decision) that
    lasted: (lasting + 0.5) / (resolved + 1)."""
    past = [r.label for r in before if r.label is not None]
    return (sum(past) + 0.5) / (len(past) + 1.0)


@dataclass(frozen=True)
class Stickiness:
    """Per interest, the smoothed share of runs starting in it that lasted: (lasting + prior * m) / (runs + m),
    float[n_interests]."""

    values: np.ndarray

    @classmethod
    def fit(cls, labelled: Sequence[tuple[int, int]], n_interests: int, m: float = 5.0) -> Stickiness:
        """From (first interest, label) pairs of labelled runs."""
        firsts = np.array([f for f, _ in labelled], dtype=np.int64)
        labels = np.array([y for _, y in labelled], dtype=np.float64)
        prior = float(labels.mean()) if len(labels) else 0.5
        hits = np.bincount(firsts, weights=labels, minlength=n_interests)[:n_interests]
        total = np.bincount(firsts, minlength=n_interests)[:n_interests]
        return cls((hits + prior * m) / (total + m))


def features(
    history: History,
    run: Run,
    k: int,
    log_pop: np.ndarray,
    stickiness: Stickiness,
    vectors: np.ndarray | None = None,
) -> list[float]:
    """FEATURES of `run` seen at its k-th event (run.length >= k): only events up to that one are read."""
    p, codes, ts = run.start, history.codes, history.ts
    before, ahead = codes[:p], codes[p : p + k]
    counts = np.bincount(before)
    present = np.flatnonzero(counts)
    shares = counts[present] / p
    earlier = runs(before)
    resolved = sum(r.label is not None for r in earlier)
    new_events = sum(r.length for r in earlier)
    sticky = stickiness.values
    similarity = 0.0
    if vectors is not None:
        profile = (vectors[present] * shares[:, None]).sum(axis=0)
        run_mean = vectors[ahead].mean(axis=0)
        similarity = float(profile @ run_mean / max(np.linalg.norm(profile) * np.linalg.norm(run_mean), 1e-12))
    strong = np.isin(history.types, list(STRONG))
    return [
        float(np.log(p)),
        len(present) / p,
        (new_events + 1.0) / (p - MIN_HISTORY + 2.0),
        float(np.log1p(resolved)),
        past_lasting_share(earlier),
        float(-(shares * np.log(shares)).sum()),
        len(set(ahead.tolist())) / k,
        float(ahead[-1] == ahead[0]),
        float(log_pop[ahead].mean()),
        float(sticky[ahead[0]]),
        float(sticky[ahead].mean()),
        similarity,
        float(np.log1p(max(ts[p] - ts[p - 1], 0) / HOUR_US)),
        float(np.log1p(max(ts[p + k - 1] - ts[p], 0) / HOUR_US)),
        float(strong[p : p + k].mean()),
        float(strong[:p].mean()),
        float(np.log1p(max(ts[p - 1] - ts[0], 0) / HOUR_US)),
        float(np.log((sum(r.returned for r in earlier) + 1.0) / (new_events + 2.0))),
        float(shares.max()),
        float(np.log1p(p - np.searchsorted(ts[:p], ts[p] - 24 * HOUR_US))),
        float(np.log1p(max(ts[p + k - 1] - ts[p], 0) / HOUR_US / max(k - 1, 1))),
    ]


Example = tuple[int, Run]
"""A labelled run of a history (by its index in the list of histories)."""


def examples(histories: Sequence[History], k: int) -> list[Example]:
    """The labelled runs that reach their k-th event (shorter ones are already excursions when it comes)."""
    return [
        (h, r) for h, hist in enumerate(histories) for r in runs(hist.codes) if r.length >= k and r.label is not None
    ]


def feature_matrix(
    histories: Sequence[History],
    chosen: Sequence[Example],
    k: int,
    log_pop: np.ndarray,
    stickiness: Stickiness | Sequence[Stickiness],
    vectors: np.ndarray | None = None,
    fold: np.ndarray | None = None,
) -> np.ndarray:
    """float[len(chosen), len(FEATURES)]; with several stickiness tables, example i uses table fold[i]."""
    tables = [stickiness] if isinstance(stickiness, Stickiness) else list(stickiness)
    which = np.zeros(len(chosen), dtype=np.int64) if fold is None else fold
    rows = [
        features(histories[h], r, k, log_pop, tables[int(f)], vectors) for (h, r), f in zip(chosen, which, strict=True)
    ]
    return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES))


L2S: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
"""The L2 strengths tried for each k (chosen by out-of-fold ROC-AUC)."""


@dataclass(frozen=True)
class LastingModel:
    """Fitted lasting-move models, one per k, with the interests' log popularity and stickiness float[n_interests]
    from the fitting histories and the interest vectors (None: none) they were read with; per k, the L2 strength
    chosen, the out-of-fold ROC-AUC of every strength tried and the threshold of best out-of-fold F1 (above it,
    a run is called lasting)."""

    models: dict[int, Logistic]
    log_pop: np.ndarray
    stickiness: Stickiness
    vectors: np.ndarray | None
    l2: dict[int, float]
    fold_auc: dict[int, dict[float, float]]
    thresholds: dict[int, float]

    def fitted_k(self, k: int) -> int:
        """The largest fitted k <= k (ConfigError when k is below every fitted one)."""
        usable = [j for j in self.models if j <= k]
        if not usable:
            raise ConfigError(f"lasting: no model for a run of {k} events (fitted for k in {sorted(self.models)})")
        return max(usable)

    def probabilities(self, histories: Sequence[History], chosen: Sequence[Example], k: int) -> np.ndarray:
        """P(lasting) float[len(chosen)] of runs at their k-th event, with the model of fitted_k(k)."""
        j = self.fitted_k(k)
        if not chosen:
            return np.zeros(0)
        x = feature_matrix(histories, chosen, j, self.log_pop, self.stickiness, self.vectors)
        out: np.ndarray = self.models[j].predict(x)
        return out

    def current(self, history: History) -> tuple[Run, float] | None:
        """The run of new interests the history ends in and its probability of lasting now (None: the history
        does not end in a run, or the run has fewer events than the smallest fitted k)."""
        found = runs(history.codes)
        if not found or found[-1].start + found[-1].length != len(history.codes):
            return None
        run = found[-1]
        k = min(run.length, LASTING)
        if k < min(self.models):
            return None
        return run, float(self.probabilities([history], [(0, run)], k)[0])


def fit_lasting(
    histories: Sequence[History],
    n_interests: int,
    vectors: np.ndarray | None = None,
    ks: Sequence[int] = KS,
    l2s: Sequence[float] = L2S,
    seed: int = 0,
) -> LastingModel:
    """Fit one model per k on the histories' labelled runs, its L2 strength chosen from `l2s` by out-of-fold
    ROC-AUC (two folds of users, seeded) and its F1 threshold from the same out-of-fold probabilities; the
    returned models are refit on all histories."""
    if not ks or min(ks) < 1 or max(ks) >= LASTING or not l2s:
        raise ConfigError(f"lasting: every k must lie in [1, {LASTING}) and at least one L2 strength is needed")
    if vectors is not None and len(vectors) < n_interests:
        raise ConfigError(f"lasting: {len(vectors)} interest vectors for {n_interests} interests")
    chosen = {k: examples(histories, k) for k in ks}
    truth = {k: np.array([r.label for _, r in chosen[k]], dtype=np.float64) for k in ks}
    for k in ks:
        if len(truth[k]) < 20 or truth[k].min() == truth[k].max():
            raise DatasetError(
                f"lasting: {len(truth[k])} labelled runs reach {k} events; need >= 20 with both outcomes"
            )
    fold = np.random.default_rng(seed).integers(0, 2, size=len(histories))
    held = {(k, l2): np.zeros(len(chosen[k])) for k in ks for l2 in l2s}
    for f in (0, 1):
        train = [h for h, g in zip(histories, fold, strict=True) if g != f]
        fitted = _fit({k: list(l2s) for k in ks}, train, n_interests, vectors, seed)
        for k in ks:
            at = np.flatnonzero([fold[h] == f for h, _ in chosen[k]])
            if not len(at):
                continue
            rows = [chosen[k][i] for i in at]
            x = feature_matrix(histories, rows, k, fitted.log_pop, fitted.stickiness, vectors)
            for l2 in l2s:
                held[k, l2][at] = fitted.models[k, l2].predict(x)
    fold_auc = {k: {l2: auc(held[k, l2], truth[k]) for l2 in l2s} for k in ks}
    best = {k: max(l2s, key=fold_auc[k].__getitem__) for k in ks}
    thresholds = {k: best_threshold(held[k, best[k]], truth[k]) for k in ks}
    final = _fit({k: [best[k]] for k in ks}, histories, n_interests, vectors, seed)
    models = {k: final.models[k, best[k]] for k in ks}
    return LastingModel(models, final.log_pop, final.stickiness, vectors, best, fold_auc, thresholds)


MAX_USERS = 20_000
"""learn_lasting reads at most this many shoppers' histories (a seeded sample), so that a service or report on a
large log learns in seconds."""


def learn_lasting(
    histories: Sequence[History],
    n_interests: int,
    vectors: np.ndarray | None = None,
    max_users: int = MAX_USERS,
    seed: int = 0,
) -> LastingModel | None:
    """fit_lasting on a seeded sample of at most max_users of the histories long enough to hold a run; None when
    they hold too few labelled runs to learn from."""
    usable = [h for h in histories if len(h.codes) > MIN_HISTORY + 1]
    if len(usable) > max_users:
        keep = np.random.default_rng(seed).choice(len(usable), size=max_users, replace=False)
        usable = [usable[i] for i in sorted(keep.tolist())]
    try:
        return fit_lasting(usable, n_interests, vectors, seed=seed)
    except DatasetError:
        return None


@dataclass(frozen=True)
class _Fitted:
    models: dict[tuple[int, float], Logistic]
    log_pop: np.ndarray
    stickiness: Stickiness


def _fit(
    grid: dict[int, list[float]], histories: Sequence[History], n: int, vectors: np.ndarray | None, seed: int
) -> _Fitted:
    """A logistic model per (k, L2) of `grid` on the histories' labelled runs; the training rows' stickiness is
    cross-fitted on two folds of users, the returned one comes from all of them."""
    fold = np.random.default_rng(seed + 1).integers(0, 2, size=len(histories))
    log_pop = log_popularity(histories, n)
    labelled = examples(histories, 1)
    tables = [stickiness_of(histories, [e for e in labelled if fold[e[0]] != f], n) for f in (0, 1)]
    models: dict[tuple[int, float], Logistic] = {}
    for k, l2s in grid.items():
        chosen = examples(histories, k)
        labels = np.array([r.label for _, r in chosen], dtype=np.float64)
        x = feature_matrix(histories, chosen, k, log_pop, tables, vectors, fold[[h for h, _ in chosen]])
        for l2 in l2s:
            models[k, l2] = fit_logistic(x, labels, l2)
    return _Fitted(models, log_pop, stickiness_of(histories, labelled, n))


def log_popularity(histories: Sequence[History], n_interests: int) -> np.ndarray:
    """log(1 + events) per interest, float[n_interests]."""
    counts = np.zeros(n_interests, dtype=np.float64)
    for h in histories:
        counts += np.bincount(h.codes, minlength=n_interests)[:n_interests]
    out: np.ndarray = np.log1p(counts)
    return out


def stickiness_of(histories: Sequence[History], labelled: Sequence[Example], n_interests: int) -> Stickiness:
    """Stickiness from labelled runs (their first interest and label)."""
    pairs = [(int(histories[h].codes[r.start]), int(r.label)) for h, r in labelled if r.label is not None]
    return Stickiness.fit(pairs, n_interests)
