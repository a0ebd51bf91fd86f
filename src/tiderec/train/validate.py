"""Score prediction targets in batches and compute full-ranking metrics under both scorings.

(A) every item is ranked, items the user already saw included (RecBole's scoring for sequential models);
(B) items already in the user's history are removed from the ranking (the S3-Rec code's scoring), so a
target the user saw before is a miss. Used for early stopping (validation) and for the final test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from tqdm import tqdm

from tiderec.data.interactions import Interactions
from tiderec.data.sequences import SequenceArrays, history_arrays
from tiderec.data.splits import Targets
from tiderec.metrics import RankingMetrics
from tiderec.models.scorer import Scorer

Scoring = Literal["A", "B"]
SCORINGS: dict[str, str] = {"A": "seen items kept", "B": "seen items removed"}


def scored_by_length(
    scorer: Scorer, arrays: SequenceArrays, lengths: np.ndarray, batch_size: int = 512
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows int64[b], scores float32[b, N]) for every row of `arrays`, in batches of similar history length
    (`lengths`), so that a batch of short histories costs the model little."""
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        yield rows, scorer.score(arrays.take(rows))


def evaluate_targets(
    scorer: Scorer,
    inter: Interactions,
    targets: Targets,
    max_len: int,
    scorings: Sequence[Scoring] = ("A", "B"),
    batch_size: int = 512,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Metrics per scoring for `targets`, whose inputs are their strictly earlier events in `inter`. Targets are
    scored in batches of similar history length (metrics do not depend on the order), so that a batch of short
    histories costs the model little."""
    arrays = history_arrays(inter, targets, max_len)
    results = {s: RankingMetrics(scorer.n_items) for s in scorings}
    bar = tqdm(
        total=len(targets), desc=f"scoring {scorer.name}", unit="user", disable=None if progress else True, leave=False
    )
    for rows, scores in scored_by_length(scorer, arrays, targets.history_len, batch_size):
        truth = targets.item[rows]
        if "A" in results:
            results["A"].add(scores, truth)
        if "B" in results:
            seen_rows, seen_items = seen_pairs(inter, targets, rows)
            removed = scores.copy()
            removed[seen_rows, seen_items] = -np.inf
            results["B"].add(removed, truth)
        bar.update(rows.size)
    bar.close()
    return {s: m.result() for s, m in results.items()}


def seen_pairs(inter: Interactions, targets: Targets, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(batch row, item) pairs of every item in each target's full history."""
    starts = inter.offsets[targets.user[rows]]
    lengths = targets.history_len[rows]
    batch_rows = np.repeat(np.arange(rows.size), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return batch_rows, inter.item[np.repeat(starts, lengths) + offsets]
