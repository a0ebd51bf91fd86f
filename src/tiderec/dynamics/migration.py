"""Migration detection over a user's sequence of interests (one interest code per event).

Online rule: an event's *novelty* is how far its interest lies from the user's event-decayed interest profile
as it stood when the current novel run began — 1 - cosine in the interest space's vectors when it has them
(near = related interests), else 1 - the interest's share of the profile. An event is novel when its novelty
is at least `min_novelty` and `z` standard deviations above the user's own running mean novelty (explorers
must move further than stable users). `persist` novel events in a row, after at least `min_history` known
events, declare a change at the last of them, so one odd click is never a change. The kind is read from the
`horizon` events that follow: mostly back to the old interests -> excursion; split -> new_interest; not back
-> migration (with fewer than `horizon` later events the kind is provisional and the confidence lower).

`detector="learned"` declares with a `SpliceDetector` instead (dynamics/splice.py: a logistic model learned
from the data's own histories by splicing users together, its threshold set so that at most `max_alarm_share`
of held-out users get a declaration); kinds and confidence are read the same way, the confidence scaled by
the detector's probability instead of the novelty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from tiderec.config import STRICT
from tiderec.dynamics.splice import SpliceDetector, fit_detector
from tiderec.errors import ConfigError, RequestError

Kind = Literal["migration", "excursion", "new_interest"]


@dataclass(frozen=True)
class MigrationConfig:
    """See the module docstring; `old_mass`: the old interests are the fewest top ones covering this share;
    `return_share`: the share of later events back in the old interests that makes it no migration;
    `detector`: the novelty rule or a learned splice detector (`look_ahead` events read from a candidate,
    `max_alarm_share` of held-out users alarmed at most, `seed` for its splices and folds; `learn_detector`).
    Defaults chosen on the development half of the Taobao splice benchmark (benchmarks/bench_migration.py
    --tune)."""

    __pydantic_config__ = STRICT

    half_life_events: float = 30.0
    min_novelty: float = 0.8
    z: float = 0.0
    persist: int = 3
    min_history: int = 5
    horizon: int = 10
    return_share: float = 0.3
    old_mass: float = 0.8
    detector: Literal["rule", "learned"] = "rule"
    look_ahead: int = 4
    max_alarm_share: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.persist, self.min_history, self.horizon, self.look_ahead) < 1 or self.half_life_events <= 0:
            raise ConfigError("migration: persist, min_history, horizon, look_ahead >= 1 and half_life_events > 0")
        if self.detector not in ("rule", "learned"):
            raise ConfigError(f"migration: detector must be 'rule' or 'learned', got {self.detector!r}")
        for name in ("min_novelty", "return_share", "old_mass", "max_alarm_share"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"migration: {name} must lie in (0, 1]")


@dataclass(frozen=True)
class Migration:
    """A declared change: at position `at_index` of the sequence; from the old interests (code, share of the
    profile) to the new ones (code, share of the novel run); kind and confidence in [0, 1]; the novel run
    began at start_index."""

    at_index: int
    from_: list[tuple[int, float]]
    to: list[tuple[int, float]]
    kind: Kind
    confidence: float
    start_index: int


@dataclass
class _Profile:
    """Event-decayed interest weights and (with interest vectors) their weighted vector sum."""

    weights: dict[int, float]
    vector: np.ndarray | None

    def copy(self) -> _Profile:
        return _Profile(dict(self.weights), None if self.vector is None else self.vector.copy())

    def novelty(self, code: int, vectors: np.ndarray | None) -> float:
        total = sum(self.weights.values())
        if total <= 0:
            return 1.0
        if vectors is None or self.vector is None:
            return 1.0 - self.weights.get(code, 0.0) / total
        norm = float(np.linalg.norm(self.vector))
        return float(np.clip(1.0 - vectors[code] @ self.vector / max(norm, 1e-12), 0.0, 1.0))

    def add(self, code: int, keep: float, vectors: np.ndarray | None) -> None:
        for c in self.weights:
            self.weights[c] *= keep
        self.weights[code] = self.weights.get(code, 0.0) + 1.0
        if vectors is not None:
            base = self.vector * keep if self.vector is not None else 0.0
            self.vector = base + vectors[code]


def learn_detector(sequences: list[np.ndarray], n_interests: int, config: MigrationConfig) -> SpliceDetector | None:
    """The learned detector for config.detector == "learned" (fit on these users' interest sequences, int64
    codes), else None."""
    if config.detector == "rule":
        return None
    rng = np.random.default_rng(config.seed)
    return fit_detector(
        sequences, n_interests, rng, config.look_ahead, config.min_history, max_alarm_share=config.max_alarm_share
    )


MARGIN = {"shares": 1e-9, "vectors": 1e-4}
"""How near its threshold a novelty replayed by `could_declare_many` counts as undecided: `detect` computes shares
in float64 (in another order: ~1e-15 apart) and cosines to float32 profiles (~1e-6). Ties that both compute
exactly (a share of an interest absent from the profile, novelty 1, against a threshold of min_novelty or 1, the
mean of novelties all 1) are decided."""


def could_declare_many(
    codes: np.ndarray, first: np.ndarray, config: MigrationConfig | None = None, vectors: np.ndarray | None = None
) -> np.ndarray:
    """For each row of codes int64[users, n] (-1: unknown or padding), False only where `detect` declares no change
    at position first[user] or later: bool[users]. The novelty rule replayed for all rows at once, one event
    position at a time (each profile kept as its dot products with the row's events); a row with a comparison
    within MARGIN of its threshold stays True, so none whose change `detect` declares is ruled out."""
    cfg = config or MigrationConfig()
    users, n = codes.shape
    if cfg.detector != "rule" or (vectors is not None and codes.size and codes.max() >= len(vectors)):
        return np.ones(users, dtype=bool)
    order = np.argsort(codes < 0, axis=1, kind="stable")  # each row's known events first, in time order
    known = np.maximum(np.take_along_axis(codes, order, axis=1), 0)
    count = (codes >= 0).sum(1)
    keep = 0.5 ** (1.0 / cfg.half_life_events)
    gram = None if vectors is None else vectors.astype(np.float64) @ vectors.astype(np.float64).T
    margin = MARGIN["shares" if gram is None else "vectors"]
    dots, mass = np.zeros((users, n)), np.zeros(users)  # the profile: dot products with the row's events; size
    frozen_dots, frozen_mass = dots.copy(), mass.copy()  # the profile when the current run began
    mean, var = np.zeros(users), np.zeros(users)
    ones = np.ones(users, dtype=bool)  # every novelty so far exactly 1 (mean exactly 1, var 0)
    run = np.zeros(users, dtype=np.int64)
    declared, out = np.zeros(users, dtype=bool), np.zeros(users, dtype=bool)

    def novelty(dot: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Against profiles of `size`: their total weight (shares) or squared length (vectors)."""
        if gram is None:
            return np.asarray(1.0 - dot / np.maximum(size, 1e-300))
        return np.asarray(np.clip(1.0 - dot / np.maximum(np.sqrt(np.maximum(size, 0.0)), 1e-12), 0.0, 1.0))

    for t in range(n):
        active = t < count
        if not active.any():
            break
        code = known[:, t]
        own = novelty(dots[:, t], mass) if t else np.ones(users)
        in_run = run > 0
        now = np.where(in_run, novelty(frozen_dots[:, t], frozen_mass), own)
        moving = mean + cfg.z * np.sqrt(var)
        threshold = np.maximum(cfg.min_novelty, moving)
        eligible = active & (t >= cfg.min_history)
        close = eligible & (np.abs(now - threshold) < margin)
        if close.any():
            if gram is None:  # a novelty of exactly 1 against a threshold both compute exactly is decided
                absent = (t == 0) | (np.where(in_run, frozen_dots[:, t], dots[:, t]) == 0)
                close &= ~(absent & (ones | (moving < cfg.min_novelty - margin)))
            out |= close
        novel = eligible & (now >= threshold)
        begins = novel & ~in_run
        if begins.any():
            frozen_dots[begins], frozen_mass[begins] = dots[begins], mass[begins]
            declared &= ~begins
        run = np.where(novel, run + 1, 0)
        fires = novel & (run >= cfg.persist) & ~declared
        declared |= fires
        out |= fires & (order[:, t] >= first)
        if t > 1:
            delta = own - mean
            mean, var = mean + (1 - keep) * delta, keep * (var + (1 - keep) * delta * delta)
        elif t == 1:
            mean = own.copy()
        if gram is None:
            ones &= (t == 0) | (dots[:, t] == 0)
            dots, mass = keep * dots + (known == code[:, None]), keep * mass + 1.0
        else:
            mass = keep * keep * mass + 2 * keep * dots[:, t] + gram[code, code]
            dots = keep * dots + gram[code[:, None], known]
    return out


def could_ever_declare(vectors: np.ndarray | None, config: MigrationConfig | None = None) -> bool:
    """False only where the novelty rule cannot declare a change in any sequence over interests with these
    vectors: every two of them too near for one to be novel against a profile of the others."""
    cfg = config or MigrationConfig()
    return cfg.detector != "rule" or vectors is None or _apart(vectors, cfg)


def _apart(rows: np.ndarray, cfg: MigrationConfig) -> bool:
    """Whether an event in one of these interests (unit vectors) can be novel against a profile of the others: its
    cosine to a profile (a sum of their rows with weights >= 0) is at least its smallest cosine to one of them, so
    the smallest pairwise cosine bounds every novelty (with a margin for float32 rounding). Rows that are not unit
    vectors are never ruled out."""
    rows = rows.astype(np.float64)
    if np.abs(np.einsum("ij,ij->i", rows, rows) - 1.0).max() > 1e-5:
        return True
    return 1.0 - float((rows @ rows.T).min()) + 1e-4 >= cfg.min_novelty


def detect(
    codes: np.ndarray,
    config: MigrationConfig | None = None,
    vectors: np.ndarray | None = None,
    learned: SpliceDetector | None = None,
    first: int = 0,
) -> list[Migration]:
    """Changes in one user's interest sequence codes int64[n] (time order; -1 = unknown, skipped); vectors
    float32[n_interests, d] unit rows, or None; `learned` is required when config.detector == "learned". Only
    changes declared at position `first` or later are returned (the earlier ones are not read)."""
    cfg = config or MigrationConfig()
    if vectors is not None and len(codes) and codes.max() >= len(vectors):
        raise RequestError(f"migration: interest code {int(codes.max())} has no vector ({len(vectors)} given)")
    if cfg.detector == "learned":
        if learned is None:
            raise ConfigError("migration: detector 'learned' needs a fitted detector (learn_detector)")
        return [m for m in _detect_learned(codes, cfg, vectors, learned) if m.at_index >= first]
    keep = 0.5 ** (1.0 / cfg.half_life_events)
    profile = _Profile({}, None)
    frozen = profile
    run: list[int] = []
    declared = False
    found: list[Migration] = []
    seen, mean, var = 0, 0.0, 0.0
    for t, code in enumerate(codes.tolist()):
        if code < 0:
            continue
        own = profile.novelty(code, vectors)
        novelty = frozen.novelty(code, vectors) if run else own
        threshold = max(cfg.min_novelty, mean + cfg.z * var**0.5)
        if seen >= cfg.min_history and novelty >= threshold:
            if not run:
                frozen, declared = profile.copy(), False
            run.append(t)
            if len(run) >= cfg.persist and not declared:
                if t >= first:
                    found.append(_declare(codes, run, frozen, cfg, vectors, threshold))
                declared = True
        else:
            run = []
        if seen > 1:
            delta = own - mean
            mean += (1 - keep) * delta
            var = keep * (var + (1 - keep) * delta * delta)
        elif seen == 1:
            mean = own
        profile.add(code, keep, vectors)
        seen += 1
    return found


def _detect_learned(
    codes: np.ndarray, cfg: MigrationConfig, vectors: np.ndarray | None, learned: SpliceDetector
) -> list[Migration]:
    """Declarations of the learned detector, each read against the profile as it stood at its candidate; the run
    (`to`) holds the look-ahead's events in interests new to that profile."""
    positions = np.flatnonzero(codes >= 0)
    known = codes[positions]
    fired = {start: (at, prob) for start, at, prob in learned.alarms(known)}
    keep = 0.5 ** (1.0 / cfg.half_life_events)
    profile = _Profile({}, None)
    found: list[Migration] = []
    frozen, start, at, prob = profile, -1, -1, 0.0
    for i, code in enumerate(known.tolist()):
        if i in fired:
            frozen, start, (at, prob) = profile.copy(), i, fired[i]
        if i == at:
            run = [int(q) for q in positions[start : at + 1] if int(codes[q]) not in frozen.weights]
            found.append(_declare(codes, run, frozen, cfg, vectors, cfg.min_novelty, prob, int(positions[at])))
        profile.add(code, keep, vectors)
    return found


def _declare(
    codes: np.ndarray,
    run: list[int],
    frozen: _Profile,
    cfg: MigrationConfig,
    vectors: np.ndarray | None,
    threshold: float,
    strength: float | None = None,
    at: int | None = None,
) -> Migration:
    """The change a run of new events makes against the frozen profile, declared at `at` (default: the run's
    last event); its kind from the horizon events after `at`."""
    total = sum(frozen.weights.values())
    old: list[tuple[int, float]] = []
    mass = 0.0
    for c, w in sorted(frozen.weights.items(), key=lambda kv: (-kv[1], kv[0])):
        old.append((c, w / total))
        mass += w / total
        if mass >= cfg.old_mass:
            break
    run_codes = codes[run]
    values, counts = np.unique(run_codes, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    new = [(int(values[i]), float(counts[i] / len(run))) for i in order]
    at = run[-1] if at is None else at
    later = codes[at + 1 :]
    later = later[later >= 0][: cfg.horizon]
    back, stay = _returns(later, frozen, run_codes, vectors, threshold)
    kind: Kind = "migration"
    if back >= cfg.return_share:
        kind = "new_interest" if stay >= cfg.return_share else "excursion"
    if strength is None:
        strength = float(np.mean([frozen.novelty(int(c), vectors) for c in run_codes]))
    confidence = strength * (0.5 + 0.5 * min(1.0, len(later) / cfg.horizon))
    return Migration(at, old, new, kind, round(confidence, 4), run[0])


def _returns(
    later: np.ndarray, frozen: _Profile, run_codes: np.ndarray, vectors: np.ndarray | None, threshold: float
) -> tuple[float, float]:
    """Shares of the later events that are back (not novel against the old profile, by the threshold that
    declared the change) and that stay with the new interests (not novel against the novel run's profile)."""
    if len(later) == 0:
        return 0.0, 0.0
    fresh = _Profile({}, None)
    for c in run_codes.tolist():
        fresh.add(int(c), 1.0, vectors)
    back = np.mean([frozen.novelty(int(c), vectors) < threshold for c in later])
    stay = np.mean([fresh.novelty(int(c), vectors) < threshold for c in later])
    return float(back), float(stay)


def dominant_change(codes: np.ndarray, window: int = 5, min_history: int = 5) -> list[int]:
    """Baseline: positions where the dominant interest of the last `window` known events first differs from
    the dominant interest of all earlier known events (once per switch)."""
    found: list[int] = []
    known: list[int] = []
    positions: list[int] = []
    last_alarm_dominant: int | None = None
    for t, code in enumerate(codes.tolist()):
        if code < 0:
            continue
        known.append(code)
        positions.append(t)
        if len(known) < min_history + window:
            continue
        recent = np.bincount(known[-window:]).argmax()
        past = np.bincount(known[:-window]).argmax()
        if recent != past and recent != last_alarm_dominant:
            found.append(t)
            last_alarm_dominant = int(recent)
        elif recent == past:
            last_alarm_dominant = None
    return found
