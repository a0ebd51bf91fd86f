"""A trained sequence model as the interest state's window encoder: recent events -> the user state float32[D]
after the newest one (what every recommendation for this user is scored with)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tiderec.data.histories import History, arrays_of
from tiderec.interest.state import Event, WindowEncoder
from tiderec.models.base import SequenceModel


def model_encoder(model: SequenceModel, max_len: int) -> WindowEncoder:
    """The encoder over a model in eval mode; events with unknown items (index -1) are left out."""
    model.eval()

    def encode(window: Sequence[Event]) -> np.ndarray:
        known = [e for e in window if e.item >= 0]
        if not known:
            return np.zeros(0, dtype=np.float32)
        history = History(
            "",
            np.array([e.item for e in known], dtype=np.int64),
            np.array([e.event_type for e in known], dtype=np.int64),
            np.array([e.ts_us for e in known], dtype=np.int64),
            np.arange(len(known), dtype=np.int64),
        )
        arrays = arrays_of([history], max_len)
        with torch.inference_mode():
            tensors = [torch.from_numpy(getattr(arrays, k)) for k in ("items", "event_types", "gaps", "next_gaps")]
            states = model(*tensors)
        out: np.ndarray = states[0, -1].float().numpy().copy()
        return out

    return encode
