"""L2-penalised logistic regression on standardised features: the probability model shared by the conversion
predictor, the learned change detector and the lasting-move predictor; and the scores of probabilities
(ROC-AUC, average precision, F1 at a threshold, log-loss, calibration error)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic regression on standardised features: weights float[d], bias, means and scales."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.weights + self.bias
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = 1.0) -> Logistic:
    """Maximum likelihood with an L2 penalty (L-BFGS); standardisation learned on these features."""
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    x = (features - mean) / scale
    n, d = x.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = x @ w + b
        p = 1.0 / (1.0 + np.exp(-z))
        nll = np.logaddexp(0.0, z).sum() - labels @ z
        grad_z = p - labels
        grad = np.concatenate([x.T @ grad_z + l2 * w, [grad_z.sum()]])
        return float(nll + 0.5 * l2 * w @ w) / n, grad / n

    prior = np.clip(labels.mean(), 1e-6, 1 - 1e-6)
    start = np.concatenate([np.zeros(d), [np.log(prior / (1 - prior))]])
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    return Logistic(result.x[:d], float(result.x[d]), mean, scale)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count half), by ranks."""
    ranks = rankdata(scores)
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(probs, 1e-12, 1 - 1e-12)
    return float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())


def calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins of the predicted probability."""
    order = np.argsort(probs)
    chunks = np.array_split(order, bins)
    return float(sum(len(c) * abs(probs[c].mean() - labels[c].mean()) for c in chunks if len(c)) / len(probs))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision: sum over thresholds of the recall gained times
    the precision there (tied scores form one threshold, so a constant score gets the base rate)."""
    pos = labels == 1
    if not pos.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], pos[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tp = np.cumsum(hits)[last]
    precision = tp / (last + 1)
    recall_gain = np.diff(np.r_[0, tp]) / tp[-1]
    return float((recall_gain * precision).sum())


def f1_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """F1 of predicting positive where score >= threshold."""
    predicted, pos = scores >= threshold, labels == 1
    tp = int((predicted & pos).sum())
    return 2 * tp / max(int(predicted.sum()) + int(pos.sum()), 1)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold (one of the scores) with the best F1 on these scores and labels."""
    candidates = np.unique(scores)
    return float(max(candidates, key=lambda t: f1_at(scores, labels, float(t))))
