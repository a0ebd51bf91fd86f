"""Off-policy evaluation: the value of an evaluation policy estimated from another policy's logged rounds.

`action_dist` gives the evaluation policy's probability of each action at each position: float[n_actions,
n_positions] for a context-free policy or float[n_rounds, n_actions, n_positions] per round (the Open Bandit
Pipeline's convention). Confidence intervals: percentile bootstrap over rounds, seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tiderec.data.bandit import BanditLog
from tiderec.errors import RequestError

ESTIMATORS = ("ips", "snips", "dr")


@dataclass(frozen=True)
class Estimate:
    """A policy value with its (1 - alpha) bootstrap interval; `clipped` counts importance weights capped at
    max_weight (0 when no cap was asked for)."""

    estimator: str
    value: float
    low: float
    high: float
    rounds: int
    clipped: int

    def covers(self, truth: float) -> bool:
        return self.low <= truth <= self.high


def empirical_action_dist(log: BanditLog) -> np.ndarray:
    """float[n_actions, n_positions]: a context-free logging policy's action distribution per position, as the
    frequencies of (action, position) in its own log (time-averaged when the policy kept learning)."""
    flat = log.actions * log.n_positions + log.positions
    counts = np.bincount(flat, minlength=log.n_actions * log.n_positions).reshape(log.n_actions, log.n_positions)
    dist: np.ndarray = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)
    return dist


def logged_probabilities(log: BanditLog, action_dist: np.ndarray) -> np.ndarray:
    """float[n]: the evaluation policy's probability of each logged (action, position)."""
    _check_dist(log, action_dist, "action_dist")
    if action_dist.ndim == 2:
        probs: np.ndarray = action_dist[log.actions, log.positions]
    else:
        probs = action_dist[np.arange(len(log)), log.actions, log.positions]
    return probs


def importance_weights(
    log: BanditLog, action_dist: np.ndarray, max_weight: float | None = None
) -> tuple[np.ndarray, int]:
    """(float[n] weights pi_e / pi_b, how many were capped at max_weight)."""
    weights = logged_probabilities(log, action_dist) / log.pscores
    if max_weight is None:
        return weights, 0
    clipped = int((weights > max_weight).sum())
    return np.minimum(weights, max_weight), clipped


def ips(
    log: BanditLog,
    action_dist: np.ndarray,
    *,
    max_weight: float | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """Inverse propensity scoring: mean of w_i r_i (unbiased when the logging policy covers the evaluated one)."""
    weights, clipped = importance_weights(log, action_dist, max_weight)
    terms = weights * log.rewards
    return _estimate("ips", terms, np.ones_like(terms), clipped, n_boot, alpha, seed)


def snips(
    log: BanditLog,
    action_dist: np.ndarray,
    *,
    max_weight: float | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """Self-normalised IPS: sum w_i r_i / sum w_i (a little biased, much lower variance)."""
    weights, clipped = importance_weights(log, action_dist, max_weight)
    return _estimate("snips", weights * log.rewards, weights, clipped, n_boot, alpha, seed)


def dr(
    log: BanditLog,
    action_dist: np.ndarray,
    reward_hat: np.ndarray,
    *,
    max_weight: float | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """Doubly robust: the reward model's value under the evaluated policy plus an IPS correction of its error on
    the logged action. reward_hat has action_dist's shape (context-free or per round)."""
    _check_dist(log, reward_hat, "reward_hat")
    weights, clipped = importance_weights(log, action_dist, max_weight)
    rows = np.arange(len(log))
    if reward_hat.ndim == 2:
        logged_hat = reward_hat[log.actions, log.positions]
        direct = (
            (action_dist * reward_hat).sum(axis=0)[log.positions]
            if action_dist.ndim == 2
            else (action_dist[rows, :, log.positions] * reward_hat[:, log.positions].T).sum(axis=1)
        )
    else:
        logged_hat = reward_hat[rows, log.actions, log.positions]
        dist = np.broadcast_to(action_dist, reward_hat.shape) if action_dist.ndim == 2 else action_dist
        direct = (dist[rows, :, log.positions] * reward_hat[rows, :, log.positions]).sum(axis=1)
    terms = direct + weights * (log.rewards - logged_hat)
    return _estimate("dr", terms, np.ones_like(terms), clipped, n_boot, alpha, seed)


def on_policy(rewards: np.ndarray, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> Estimate:
    """The mean reward of a policy's own log, with the same bootstrap interval (the ground truth to compare)."""
    terms = rewards.astype(np.float64)
    return _estimate("on-policy", terms, np.ones_like(terms), 0, n_boot, alpha, seed)


ESTIMATE: dict[str, Callable[..., Estimate]] = {"ips": ips, "snips": snips, "dr": dr}


def _check_dist(log: BanditLog, dist: np.ndarray, name: str) -> None:
    shape = (log.n_actions, log.n_positions)
    if dist.shape not in (shape, (len(log), *shape)):
        raise RequestError(f"{name}: expected shape {shape} or {(len(log), *shape)}, got {dist.shape}")
    if not bool(np.all(np.isfinite(dist))):
        raise RequestError(f"{name}: must be finite")


def _estimate(
    name: str, numer: np.ndarray, denom: np.ndarray, clipped: int, n_boot: int, alpha: float, seed: int
) -> Estimate:
    """Value sum(numer) / sum(denom) and its percentile bootstrap interval over rounds."""
    n = len(numer)
    if n == 0:
        raise RequestError(f"{name}: the log has no rounds")
    value = float(numer.sum() / denom.sum())
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))
        d = denom[idx].sum(axis=1)
        boots[start : start + size] = numer[idx].sum(axis=1) / np.where(d == 0, np.nan, d)
    low, high = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2])
    return Estimate(name, value, float(low), float(high), n, clipped)
