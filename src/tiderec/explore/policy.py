"""The exploration policy contract: a scored candidate list in, a served `ItemList` with propensities out.

Every policy is a distribution over rankings of the candidates. `sample` draws rankings; `marginals` gives, for
each candidate and position, the probability that the policy puts it there (exact where a closed form exists,
else the frequency over `simulations` draws that include the served one, so a served item's propensity is
never zero). Propensities are these position marginals: what position-wise IPS needs (the Open Bandit
Dataset's convention).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tiderec.errors import RequestError
from tiderec.types import ItemList


@dataclass(frozen=True)
class ExploreRequest:
    """Candidates of one request. candidates: int64[n] item indices; scores: float[n] (higher is better);
    k: list length; uncertainty in [0, 1] (how unsure we are of this user's interests: new, sparse or
    migrating users explore more); features: float[n, d] per-candidate context vectors (contextual policies)."""

    candidates: np.ndarray
    scores: np.ndarray
    k: int
    uncertainty: float = 0.0
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.candidates)
        if self.candidates.ndim != 1 or self.scores.shape != (n,):
            raise RequestError(
                "request: candidates and scores must be 1-d of one length, "
                f"got {self.candidates.shape} and {self.scores.shape}"
            )
        if n == 0:
            raise RequestError("request: no candidates")
        if not 1 <= self.k <= n:
            raise RequestError(f"request: k must be between 1 and the number of candidates ({n}), got {self.k}")
        if not bool(np.all(np.isfinite(self.scores))):
            raise RequestError("request: scores must be finite")
        if not 0.0 <= self.uncertainty <= 1.0:
            raise RequestError(f"request: uncertainty must lie in [0, 1], got {self.uncertainty}")
        if len(np.unique(self.candidates)) != n:
            raise RequestError("request: candidates must be distinct")
        if self.features is not None and (self.features.ndim != 2 or self.features.shape[0] != n):
            raise RequestError(f"request: features must be [n_candidates={n}, d], got {self.features.shape}")

    @property
    def n(self) -> int:
        return len(self.candidates)

    def greedy(self) -> np.ndarray:
        """int64[n] candidate positions by score, best first (ties keep candidate order)."""
        return np.argsort(-self.scores, kind="stable")


class Policy(ABC):
    """A stochastic (or greedy) ranking policy. Subclasses define `sample` and, where they can, `exact_marginals`."""

    name: ClassVar[str]
    simulations: int = 1

    @property
    def version(self) -> str:
        """Identifies the policy's settings and learned state in exposure logs."""
        return self.name

    @abstractmethod
    def sample(self, request: ExploreRequest, rng: np.random.Generator, n: int) -> np.ndarray:
        """int64[n, k]: n rankings, as positions into `request.candidates`, best first."""

    def learn(self, request: ExploreRequest, served: np.ndarray, rewards: np.ndarray) -> Policy:
        """The policy after observing rewards float[k] of the served positions int64[k] into the request's
        candidates (pure: a learning policy returns a new one; the others return themselves)."""
        return self

    def exact_marginals(self, request: ExploreRequest) -> np.ndarray | None:
        """float[n_candidates, k] closed-form position marginals, or None to estimate them by simulation."""
        return None

    def marginals(self, request: ExploreRequest, rng: np.random.Generator) -> np.ndarray:
        """float[n_candidates, k]: probability that the policy puts candidate i at position j."""
        exact = self.exact_marginals(request)
        if exact is not None:
            return exact
        return position_frequencies(self.sample(request, rng, self.simulations), request.n)

    def select(self, request: ExploreRequest, seed: int) -> ItemList:
        """The served list for one request; the same (request, seed) always gives the same list."""
        rng = np.random.default_rng(seed)
        exact = self.exact_marginals(request)
        rankings = self.sample(request, rng, 1 if exact is not None else self.simulations)
        served = rankings[0]
        marg = exact if exact is not None else position_frequencies(rankings, request.n)
        greedy_top = np.zeros(request.n, dtype=bool)
        greedy_top[request.greedy()[: request.k]] = True
        return ItemList(
            items=request.candidates[served].astype(np.int64),
            scores=request.scores[served].astype(np.float64),
            propensities=marg[served, np.arange(request.k)].astype(np.float64),
            explored=~greedy_top[served],
            policy=self.version,
            seed=seed,
        )


def position_frequencies(rankings: np.ndarray, n_candidates: int) -> np.ndarray:
    """float[n_candidates, k]: how often each candidate sits at each position over rankings int64[m, k]."""
    m, k = rankings.shape
    counts = np.zeros((n_candidates, k))
    for j in range(k):
        counts[:, j] = np.bincount(rankings[:, j], minlength=n_candidates)
    freq: np.ndarray = counts / m
    return freq
