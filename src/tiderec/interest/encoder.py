"""A trained sequence model as the interest state's window encoder: windows of recent events -> the encoded user
state float32[D] after the newest event of each (`SequenceModel.encode`: what every recommendation for that user is
scored with, read at the request's moment), all windows
in one forward pass, padded only to the longest window (positions count from each window's first event, so the
padding length does not change the result)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tiderec.data.histories import History, arrays_of
from tiderec.interest.state import Event, WindowEncoder
from tiderec.models.base import SequenceModel


def model_encoder(model: SequenceModel, max_len: int) -> WindowEncoder:
    """The encoder over a model in eval mode; events with items the model does not know are left out (unknown
    items, index -1, and items added to the catalogue after it was trained), and a window without a known item
    gives an empty state float32[0]."""
    model.eval()
    n_items = model.n_items

    def encode(windows: Sequence[Sequence[Event]]) -> list[np.ndarray]:
        known = [[e for e in window if 0 <= e.item < n_items] for window in windows]
        rows = [k for k, events in enumerate(known) if events]
        out = [np.zeros(0, dtype=np.float32) for _ in windows]
        if not rows:
            return out
        histories = [
            History(
                "",
                np.array([e.item for e in known[k]], dtype=np.int64),
                np.array([e.event_type for e in known[k]], dtype=np.int64),
                np.array([e.ts_us for e in known[k]], dtype=np.int64),
                np.arange(len(known[k]), dtype=np.int64),
            )
            for k in rows
        ]
        arrays = arrays_of(histories, min(max_len, max(len(h.items) for h in histories)))
        with torch.inference_mode():
            tensors = [torch.from_numpy(getattr(arrays, k)) for k in ("items", "event_types", "gaps")]
            states = model.encode(*tensors)[:, -1].float().numpy()
        for row, k in enumerate(rows):
            out[k] = states[row].copy()
        return out

    return encode
