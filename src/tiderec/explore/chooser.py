"""An exploration policy as the list chooser of batch recommendation: top candidates by score -> served list
with propensities, seeded per user so that a rerun serves the same lists."""

from __future__ import annotations

from typing import Any

import numpy as np

from tiderec.data.histories import History
from tiderec.explore.policy import ExploreRequest, Policy
from tiderec.explore.seeding import request_seed
from tiderec.explore.uncertainty import sparsity
from tiderec.metrics import top_k
from tiderec.ranking.batch import ListChooser


def policy_chooser(policy: Policy, k: int, candidates: int = 100, seed: int = 0) -> ListChooser:
    """The chooser: the `candidates` best finite scores go to `policy`; uncertainty = the history's sparsity;
    the output lines gain `propensities`, `explored` and `policy`."""

    def choose(history: History, scores: np.ndarray) -> tuple[np.ndarray, dict[str, list[Any]]]:
        finite = np.flatnonzero(np.isfinite(scores))
        pool = finite[top_k(scores[finite][None, :], min(candidates, len(finite)))[0]]
        request = ExploreRequest(pool, scores[pool], min(k, len(pool)), sparsity(len(history.items)))
        served = policy.select(request, request_seed(seed, history.user_id))
        extra = {
            "propensities": [round(float(p), 6) for p in served.propensities],
            "explored": served.explored.tolist(),
            "policy": [served.policy] * len(served),
        }
        return served.items, extra

    return choose
