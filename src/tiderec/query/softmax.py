"""Multinomial logistic regression over fixed vectors, with temperature scaling for calibrated confidences."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from tiderec.errors import DatasetError


@dataclass(frozen=True)
class SoftmaxClassifier:
    """weights float[d, K], bias float[K], classes[K], temperature (confidences = softmax(logits / T))."""

    weights: np.ndarray
    bias: np.ndarray
    classes: tuple[str, ...]
    temperature: float = 1.0

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        out: np.ndarray = vectors @ self.weights + self.bias
        return out

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """float[n, K] calibrated class probabilities."""
        return _softmax(self.logits(vectors) / self.temperature)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "weights.npy", self.weights.astype(np.float32))
        np.save(folder / "bias.npy", self.bias.astype(np.float32))
        meta = {"classes": list(self.classes), "temperature": self.temperature}
        (folder / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> SoftmaxClassifier:
        if not (folder / "classifier.json").is_file():
            raise DatasetError(f"{folder}: no classifier.json")
        meta = json.loads((folder / "classifier.json").read_text(encoding="utf-8"))
        return cls(np.load(folder / "weights.npy"), np.load(folder / "bias.npy"), tuple(meta["classes"]),
                   float(meta["temperature"]))  # fmt: skip


def fit_softmax(
    vectors: np.ndarray, labels: list[str], l2: float = 1e-3, calibrate: float = 0.1, seed: int = 0
) -> SoftmaxClassifier:
    """Fit on (1 - calibrate) of the rows (L-BFGS, L2 penalty), then the temperature on the rest by NLL."""
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise DatasetError(f"need at least two classes to train, got {classes}")
    y = np.array([classes.index(c) for c in labels])
    rng = np.random.default_rng(seed)
    held = rng.random(len(y)) < calibrate if calibrate > 0 and len(y) >= 20 else np.zeros(len(y), dtype=bool)
    x_fit, y_fit = vectors[~held].astype(np.float64), y[~held]
    n, d = x_fit.shape
    k = len(classes)
    onehot = np.eye(k)[y_fit]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * k].reshape(d, k), theta[d * k :]
        z = x_fit @ w + b
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        nll = -(onehot * logp).sum() / n + 0.5 * l2 * (w * w).sum()
        g = (p - onehot) / n
        return float(nll), np.concatenate([(x_fit.T @ g + l2 * w).ravel(), g.sum(axis=0)])

    result = minimize(loss, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    model = SoftmaxClassifier(result.x[: d * k].reshape(d, k), result.x[d * k :], classes)
    if not held.any():
        return model
    logits, truth = model.logits(vectors[held].astype(np.float64)), y[held]

    def nll(t: float) -> float:
        logp = np.log(np.clip(_softmax(logits / t), 1e-12, 1.0))
        return float(-logp[np.arange(len(truth)), truth].mean())

    best = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return SoftmaxClassifier(model.weights, model.bias, classes, float(best.x))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out
