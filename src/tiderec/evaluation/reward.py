"""Reward models for the doubly robust estimator: smoothed reward rate per (action, position), cross-fitted."""

from __future__ import annotations

import numpy as np

from tiderec.data.bandit import BanditLog


def rate_table(log: BanditLog, prior_strength: float = 50.0) -> np.ndarray:
    """float[n_actions, n_positions]: (rewards + m * position rate) / (rounds + m) per (action, position) — the
    raw rate shrunk towards its position's mean by m pseudo-rounds (sparse clicks need it); unseen cells get
    the position's mean."""
    shape = (log.n_actions, log.n_positions)
    flat = log.actions * log.n_positions + log.positions
    rounds = np.bincount(flat, minlength=log.n_actions * log.n_positions).reshape(shape)
    rewards = np.bincount(flat, weights=log.rewards, minlength=log.n_actions * log.n_positions).reshape(shape)
    per_position = rewards.sum(axis=0) / np.maximum(rounds.sum(axis=0), 1)
    denom = rounds + prior_strength
    shrunk = (rewards + prior_strength * per_position[None, :]) / np.where(denom > 0, denom, 1.0)
    table: np.ndarray = np.where(denom > 0, shrunk, per_position[None, :])
    return table


def cross_fitted_rates(log: BanditLog, folds: int = 2, prior_strength: float = 50.0, seed: int = 0) -> np.ndarray:
    """float[n, n_actions, n_positions]: each round's reward model fitted on the other folds only, so the DR
    correction term stays unbiased (no round predicts its own reward)."""
    fold = np.random.default_rng(seed).integers(0, folds, size=len(log))
    out = np.empty((len(log), log.n_actions, log.n_positions))
    for f in range(folds):
        out[fold == f] = rate_table(log.subset(fold != f), prior_strength)[None]
    return out
