from __future__ import annotations

import numpy as np
import torch

from tiderec.interest.encoder import model_encoder
from tiderec.interest.state import Event, InterestContext, initial, update
from tiderec.models.interest import InterestConfig as ModelConfig
from tiderec.models.interest import InterestModel


def test_the_window_encoder_is_the_models_last_state() -> None:
    """One batch of windows of different lengths (left-padded) gives each window's own last state; items the
    model does not know (unknown, or added to the catalogue after training) are left out."""
    torch.manual_seed(0)
    model = InterestModel(12, 8, ModelConfig(dim=16))
    encode = model_encoder(model, max_len=8)
    events = [Event(f"i{i}", i, 1_000_000 * (k + 1), 0) for k, i in enumerate([3, 5, 7])]
    (state,) = encode([events])
    assert state.shape == (16,)
    shorter = [Event("i9", 9, 2_000_000, 1)]
    added_later = Event("new", 12, 6_000_000, 0)
    again, empty, alone = encode([[*events, Event("x", -1, 5_000_000, 0), added_later], [], shorter])
    np.testing.assert_allclose(again, state, rtol=1e-5, atol=1e-6)
    assert empty.size == 0
    np.testing.assert_allclose(alone, encode([shorter])[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(alone, state)
    context = InterestContext(np.eye(12, dtype=np.float32), np.zeros(12, dtype=np.int64), encoder=encode)
    live = initial("u", context)
    for event in events:
        live = update(live, event, context)
    assert live.model_state is not None
    np.testing.assert_allclose(live.model_state, state, rtol=1e-6)
