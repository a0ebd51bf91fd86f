"""Batch recommendation for any client: JSON Lines histories in (see data.histories), top-k items with scores
out. A history with no known item falls back to popularity. Output line: {"user_id": ..., "items": [...],
"scores": [...]}.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from tiderec.data.histories import History, ReadReport, arrays_of, read_histories
from tiderec.errors import DatasetError
from tiderec.metrics import top_k
from tiderec.models.scorer import TorchScorer
from tiderec.train.checkpoint import SavedModel


@dataclass
class BatchReport(ReadReport):
    users: int = 0
    popularity_fallbacks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "events": self.events,
            "unknown_items_skipped": self.unknown_items,
            "popularity_fallbacks": self.popularity_fallbacks,
            "bad_lines": [b.describe() for b in self.bad_lines[:5]],
            "bad_lines_total": len(self.bad_lines),
        }


ListChooser = Callable[[History, np.ndarray], tuple[np.ndarray, dict[str, list[Any]]]]
"""(history, scores float[n_items], -inf = excluded) -> (served item indices in order, extra output fields of
the same length, e.g. propensities): how an exploration policy takes over from the plain top-k."""


def recommend_file(
    saved: SavedModel,
    input_path: Path,
    output: TextIO,
    k: int,
    exclude_seen: bool | None = None,
    batch_size: int = 256,
    skip_bad: bool = False,
    choose: ListChooser | None = None,
) -> BatchReport:
    """Stream histories from `input_path` and write one recommendation line per user to `output` (the top-k,
    or the list `choose` serves from the scores); exclude_seen None: the scoring the model was selected on."""
    if k < 1:
        raise DatasetError(f"k must be >= 1, got {k}")
    if not input_path.is_file():
        raise DatasetError(f"{input_path}: no such file")
    report = BatchReport()
    scorer = TorchScorer(saved.model_name, saved.model, frozen=True)
    drop_seen = saved.exclude_seen if exclude_seen is None else exclude_seen
    max_len = int(saved.manifest["max_len"])
    batch: list[History] = []

    def flush() -> None:
        scores = scorer.score(arrays_of(batch, max_len))
        for row, history in enumerate(batch):
            if history.items.size == 0:
                scores[row] = saved.popularity
                report.popularity_fallbacks += 1
            elif drop_seen:
                scores[row, history.items] = -np.inf
        best = top_k(scores, k)
        for row, history in enumerate(batch):
            served, extra = (best[row], {}) if choose is None else choose(history, scores[row])
            ids = saved.item_vocab.ids.gather(served).to_list()
            values = [round(float(v), 5) for v in scores[row, served]]
            line = {"user_id": history.user_id, "items": ids, "scores": values} | extra
            output.write(json.dumps(line, ensure_ascii=False) + "\n")
        report.users += len(batch)
        batch.clear()

    default_type = str(saved.manifest.get("default_event_type", "view"))
    for history in read_histories(input_path, saved.item_vocab, report, skip_bad, default_type):
        batch.append(history)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report
