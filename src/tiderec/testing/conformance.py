"""Checks every SequenceModel must pass: shapes, causality, padding invariance, finite scores."""

from __future__ import annotations

import torch

from tiderec.models.base import SequenceModel


def sample_inputs(n_items: int, batch: int = 3, length: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """Left-padded random inputs; row 0 is full, row 1 has 3 padding slots, row 2 a single event."""
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(1, n_items + 1, (batch, length), generator=g)
    items[1, :3] = 0
    items[2, :-1] = 0
    valid = items > 0
    return {
        "items": items,
        "event_types": torch.randint(1, 5, (batch, length), generator=g) * valid,
        "gaps": torch.randint(1, 20, (batch, length), generator=g) * valid,
        "next_gaps": torch.randint(1, 20, (batch, length), generator=g) * valid,
    }


def check_sequence_model(model: SequenceModel, n_items: int) -> None:
    """Raise AssertionError if the model breaks the SequenceModel contract."""
    model.eval()
    x = sample_inputs(n_items)
    with torch.no_grad():
        states = model(**x)
        b, t = x["items"].shape
        assert states.shape[:2] == (b, t), f"states have shape {tuple(states.shape)}"
        assert torch.isfinite(states[x["items"] > 0]).all(), "non-finite states"
        table = model.item_table()
        assert table.shape == (n_items, states.shape[-1]), f"item table has shape {tuple(table.shape)}"
        some = torch.tensor([n_items - 1, 0, n_items // 2, 0])
        assert torch.allclose(model.item_rows(some), table[some], atol=1e-6), "item_rows differ from item_table rows"

        if model.causal:
            check_causal(model, x, states, n_items)

        shifted = {k: torch.cat([torch.zeros_like(v[:, :2]), v], dim=1) for k, v in x.items()}
        padded = model(**shifted)
        assert torch.allclose(states[:, -1], padded[:, -1], atol=1e-4), "extra left padding changed the last state"

        encoded = model.encode(x["items"], x["event_types"], x["gaps"])
        moment = model.at_moment(encoded, x["next_gaps"])
        assert torch.allclose(states, moment, atol=1e-5), "forward differs from at_moment(encode(...))"

        select = torch.zeros_like(x["items"], dtype=torch.bool)
        select[:, -1] = True
        scores = model.scores(states, x["items"], select)
        assert scores.shape == (b, n_items), f"scores have shape {tuple(scores.shape)}"
        assert torch.isfinite(scores).all(), "non-finite scores"
        with_table = model.scores(states, x["items"], select, table)
        assert torch.allclose(scores, with_table, atol=1e-5), "scores differ when given the item table"
        reach = model.reachable(x["items"])
        assert reach.shape == (b, n_items), f"reachable has shape {tuple(reach.shape)}"
        for row in range(b):
            pool = torch.unique(torch.cat([torch.tensor([0, n_items - 1]), torch.nonzero(reach[row])[:, 0]]))
            one = torch.zeros_like(select)
            one[row, -1] = True
            part = model.scores(states, x["items"], one, table, pool)[0]
            assert torch.allclose(part[pool], scores[row, pool], atol=1e-5), "candidates scored unlike every item"
            outside = torch.ones(n_items, dtype=torch.bool)
            outside[pool] = False
            assert torch.isneginf(part[outside]).all(), "an item outside the candidates has a finite score"


def check_causal(model: SequenceModel, x: dict[str, torch.Tensor], states: torch.Tensor, n_items: int) -> None:
    """A causal model's state at t depends on positions <= t only (models with `causal = False` are exempt)."""
    changed = {k: v.clone() for k, v in x.items()}
    changed["items"][0, -1] = (changed["items"][0, -1] % n_items) + 1
    changed["event_types"][0, -1] = (changed["event_types"][0, -1] % 4) + 1
    later = model(**changed)
    assert torch.allclose(states[0, :-1], later[0, :-1], atol=1e-5), "a future event changed an earlier state"

    dropped = {k: torch.cat([torch.zeros_like(v[:, :1]), v[:, :-1]], dim=1) for k, v in x.items()}
    earlier = model(**dropped)
    keep = x["items"][:, :-1] > 0
    assert torch.allclose(states[:, :-1][keep], earlier[:, 1:][keep], atol=1e-4), (
        "removing the newest event changed an earlier state"
    )
