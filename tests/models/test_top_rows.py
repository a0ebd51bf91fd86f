"""The scorer's block-threshold top-k selects what `torch.topk` selects, on wide rows and at every edge."""

from __future__ import annotations

import pytest
import torch

from tiderec.models.scorer import BLOCK, top_rows


def check(scores: torch.Tensor, k: int) -> None:
    """Same values as torch.topk, best first, and each row's columns are distinct and hold exactly those values."""
    values, cols = top_rows(scores, k)
    want = torch.topk(scores, min(k, scores.shape[1]), dim=1).values
    assert torch.equal(values, want)
    assert torch.equal(scores.gather(1, cols), values)
    for row_cols in cols:
        assert len(set(row_cols.tolist())) == len(row_cols)


@pytest.mark.parametrize("rows", [1, 3, 8])
def test_wide_rows_select_what_torch_topk_selects(rows: int) -> None:
    """Rows wide enough for the block pass (with a tail after the last whole block), at several k."""
    gen = torch.Generator().manual_seed(rows)
    scores = torch.randn(rows, 64 * BLOCK * 8 + 17, generator=gen)
    for k in (1, 10, 200):
        check(scores, k)


def test_ties_the_tail_and_rows_with_few_finite_scores() -> None:
    """Rounded scores (many ties, across blocks), the best scores in the columns after the last whole block, and
    a row whose finite scores are fewer than k (the rest -inf, as outside a candidate set)."""
    gen = torch.Generator().manual_seed(0)
    n = 40 * BLOCK * 4 + 5
    scores = torch.randn(4, n, generator=gen).mul(4).round()
    scores[1, -5:] = 100.0
    check(scores, 40)
    scores[2] = -torch.inf
    scores[2, :7] = torch.arange(7.0)
    check(scores, 40)
    assert top_rows(scores, 40)[1][2, :7].tolist() == [6, 5, 4, 3, 2, 1, 0]
    assert top_rows(scores[2:3], 3)[1].tolist() == [[6, 5, 4]]


def test_narrow_rows_and_k_beyond_the_row() -> None:
    scores = torch.randn(2, 50)
    check(scores, 10)
    values, cols = top_rows(scores, 80)
    assert values.shape == cols.shape == (2, 50)
