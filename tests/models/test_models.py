"""Every sequence model passes the shared conformance checks; the interest model's own features work."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tiderec.data.sequences import SequenceArrays
from tiderec.dynamics import lasting
from tiderec.errors import ConfigError
from tiderec.models.bsarec import BSARec, BSARecConfig
from tiderec.models.gru4rec import GRU4Rec
from tiderec.models.interest import InterestConfig, InterestModel
from tiderec.models.layers import prefix_histories
from tiderec.models.sasrec import SASRec
from tiderec.models.scorer import TorchScorer
from tiderec.testing.conformance import check_sequence_model, sample_inputs

N = 20


def interest(**changes: object) -> InterestModel:
    vectors = torch.randn(N, 16)
    attrs = torch.randint(0, 4, (N, 3))
    return InterestModel(N, 16, InterestConfig(dim=16, inner=32, **changes), vectors, attrs, n_attributes=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "model",
    [
        SASRec(N, 16, dim=16, inner=32),
        GRU4Rec(N, dim=16, hidden=24),
        interest(),
        interest(use_ids=False),
        interest(use_repeat=False, use_time=False, use_event_types=False),
        BSARec(N, 16, BSARecConfig(dim=16, heads=2)),
    ],
    ids=["sasrec", "gru4rec", "tiderec", "tiderec-text-only", "tiderec-plain", "bsarec"],
)
def test_conformance(model: torch.nn.Module) -> None:
    check_sequence_model(model, N)  # type: ignore[arg-type]


def test_repeat_term_raises_items_in_the_history() -> None:
    model = interest()
    model.eval()
    with torch.no_grad():
        model.repeat_head.weight.zero_()  # type: ignore[union-attr]
        model.repeat_head.bias.copy_(torch.tensor([5.0, 0.0]))  # type: ignore[union-attr]
        x = sample_inputs(N)
        states = model(**x)
        select = torch.zeros_like(x["items"], dtype=torch.bool)
        select[:, -1] = True
        with_repeat = model.scores(states, x["items"], select)
        plain = states[select] @ model.item_table().T
    seen = x["items"][0][x["items"][0] > 0] - 1
    delta = with_repeat[0] - plain[0]
    assert (delta[seen] >= 5.0 - 1e-4).all()
    unseen = torch.ones(N, dtype=torch.bool)
    unseen[seen] = False
    assert torch.allclose(delta[unseen], torch.zeros(int(unseen.sum())))


def test_a_model_needs_some_item_representation() -> None:
    with pytest.raises(ValueError, match="needs ids, text vectors or attributes"):
        InterestModel(N, 8, InterestConfig(use_ids=False), None, None)


def test_id_dropout_leaves_ids_out_of_some_items_in_training_only() -> None:
    torch.manual_seed(0)
    model = interest(id_dropout=0.5, dropout=0.0)
    ids = torch.arange(1, N + 1).repeat(50)  # [1000]
    assert model.item_emb is not None
    model.eval()
    without_id = model.represent(ids) - model.item_emb(ids)  # what remains when the id is dropped
    model.train()
    trained = model.represent(ids)
    dropped = torch.isclose(trained, without_id, atol=1e-6).all(dim=-1)
    assert 0.4 < dropped.float().mean() < 0.6
    model.eval()
    torch.testing.assert_close(model.represent(ids), without_id + model.item_emb(ids))
    with pytest.raises(ConfigError, match="id_dropout"):
        InterestConfig(id_dropout=1.0)


def test_neighbour_term_adds_weighted_similarity_of_the_history() -> None:
    model = interest(neighbours=2, use_repeat=False)
    model.eval()
    similarity = sp.csr_matrix(([0.5, 0.25], ([3, 3], [7, 9])), shape=(N, N))
    model.set_neighbours(similarity)
    items = torch.tensor([[0, 5, 4]])  # ids + 1: item 4 then item 3 (newest)
    select = torch.tensor([[False, False, True]])
    with torch.no_grad():
        states = model(items, torch.zeros_like(items), torch.zeros_like(items), torch.zeros_like(items))
        plain = model.scores(states, items, select)
        model.get_buffer("neighbour_weight").fill_(2.0)
        with_term = model.scores(states, items, select)
    delta = (with_term - plain)[0]
    expected = torch.zeros(N)
    expected[7], expected[9] = 2.0 * 0.5, 2.0 * 0.25
    torch.testing.assert_close(delta, expected)
    check_sequence_model(model, N)


def test_the_shift_term_finds_the_run_of_new_interests_that_lasting_defines() -> None:
    """The run a window ends in (model, batched in torch) is the last run of dynamics.lasting.runs when that run
    has not returned, for random histories with padding and items of no interest."""
    rng = np.random.default_rng(0)
    model = interest(neighbours=0, shift_min_history=3)
    codes = rng.integers(-1, 6, size=N)
    model.set_interests(codes)
    history = torch.from_numpy(rng.integers(1, N + 1, size=(400, 12)))
    history[:100, :4] = 0
    run = model.new_interest_run(history, history > 0).numpy()
    for row, got in zip(history.numpy(), run, strict=True):
        known = codes[row[row > 0] - 1]
        known = known[known >= 0]
        open_runs = [r for r in lasting.runs(known, 3) if not r.returned]
        want = set(known[open_runs[-1].start :].tolist()) if open_runs else set()
        assert set((np.flatnonzero(got) - 1).tolist()) == want
    assert run[:, 1:].any(axis=1).mean() > 0.1


def test_the_shift_term_adds_its_weight_to_the_items_of_the_run_interests() -> None:
    model = interest(neighbours=0, use_repeat=False, shift_min_history=2)
    model.eval()
    codes = np.full(N, 2)
    codes[:4], codes[4:6] = 0, 1
    model.set_interests(codes)
    items = torch.tensor([[1, 2, 3, 5, 6]])  # ids + 1: interest 0 three times, then interest 1 twice
    select = torch.tensor([[False, False, False, False, True]])
    with torch.no_grad():
        states = model(items, torch.zeros_like(items), torch.zeros_like(items), torch.zeros_like(items))
        plain = model.scores(states, items, select)
        model.get_buffer("shift_weight").fill_(1.5)
        shifted = model.scores(states, items, select)
        back = torch.tensor([[1, 2, 3, 5, 2]])  # a return to interest 0 ends the run: no shift
        returned = model.scores(states, back, select) - plain
    torch.testing.assert_close((shifted - plain)[0], torch.from_numpy(np.where(codes == 1, 1.5, 0.0)).float())
    assert float(returned.abs().max()) == 0.0
    assert model.reachable(items)[0].numpy().tolist() == (codes == 1).tolist()
    check_sequence_model(model, N)


def test_the_shift_term_adds_exactly_its_weight_at_every_row_and_only_there() -> None:
    """Batched over many prefixes (most ending in a run, some in none), with and without candidates: the scores
    are the plain scores plus v times the dense mask of each row's run interests, bit for bit."""
    rng = np.random.default_rng(1)
    model = interest(neighbours=0, use_repeat=False, shift_min_history=2)
    model.eval()
    codes = rng.integers(-1, 5, size=N)
    model.set_interests(codes)
    items = torch.from_numpy(rng.integers(1, N + 1, size=(6, 9)))
    items[:2, :3] = 0
    select = items > 0
    chosen = torch.from_numpy(rng.choice(N, 7, replace=False))
    with torch.no_grad():
        states = model(items, torch.zeros_like(items), torch.zeros_like(items), torch.zeros_like(items))
        plain = [model.scores(states, items, select, candidates=c) for c in (None, chosen)]
        model.get_buffer("shift_weight").fill_(0.75)
        shifted = [model.scores(states, items, select, candidates=c) for c in (None, chosen)]
        history, _, in_prefix = prefix_histories(items, select)
        mask = model.new_interest_run(history, in_prefix)[:, model.get_buffer("item_interest")[1:]]
    assert 0 < int(mask.any(dim=1).sum()) < len(mask)
    for before, after in zip(plain, shifted, strict=True):
        assert torch.equal(after, before + 0.75 * mask)


def test_a_frozen_scorer_scores_as_the_model_does() -> None:
    """The frozen scorer's item table (held transposed for the matrix product) gives the model's own scores."""
    model = interest(neighbours=0)
    model.eval()
    items = torch.randint(1, N + 1, (5, 7))
    select = torch.zeros_like(items, dtype=torch.bool)
    select[:, -1] = True
    arrays = SequenceArrays(items.numpy(), np.ones((5, 7), np.int64), *(np.zeros((5, 7), np.int64),) * 2,
                            np.full((5, 7), -100))  # fmt: skip
    frozen = TorchScorer("tiderec", model, frozen=True)
    assert frozen.table is not None
    assert frozen.table.T.is_contiguous()
    with torch.no_grad():
        states = model(items, torch.ones_like(items), torch.zeros_like(items), torch.zeros_like(items))
        want = model.scores(states, items, select).numpy()
    np.testing.assert_allclose(frozen.score(arrays), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(TorchScorer("tiderec", model).score(arrays), want, rtol=1e-5, atol=1e-5)


def test_bsarec_reads_its_whole_window_through_the_frequency_filter() -> None:
    """The filter is not causal (an earlier state moves when a later event changes), which is why BSARec says so
    and trains on prefixes; alpha 0 leaves plain causal attention; bad settings are refused."""
    torch.manual_seed(0)
    x = sample_inputs(N)
    changed = {k: v.clone() for k, v in x.items()}
    changed["items"][0, -1] = changed["items"][0, -1] % N + 1
    for alpha, moves in ((0.7, True), (0.0, False)):
        model = BSARec(N, 16, BSARecConfig(dim=16, alpha=alpha))
        model.eval()
        with torch.no_grad():
            before, after = model(**x)[0, :-1], model(**changed)[0, :-1]
        assert (not torch.allclose(before, after, atol=1e-5)) is moves
    assert not BSARec.causal
    for bad in ({"alpha": 1.5}, {"cutoff": 0}, {"dim": 10, "heads": 4}):
        with pytest.raises(ConfigError):
            BSARecConfig(**bad)
