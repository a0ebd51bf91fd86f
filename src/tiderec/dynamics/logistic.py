"""L2-penalised logistic regression on standardised features: the probability model shared by the conversion
predictor and the learned change detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize


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
