"""Grades so large that the exp2 gain ``2**y - 1`` overflows float32 (y >= 128): finite, right values.

Such lists are computed in float64 (the gains, and the whole loss with them); lists of ordinary grades keep
their float32 computation unchanged (``tests/losses/test_loss_values.py`` pins those values). Grades beyond
what float64 can hold are refused with a :class:`~gradedpr.errors.DataError` that advises ``gain=linear``
(``tests/reliability/test_reliability_losses.py``).
"""

from __future__ import annotations

import pytest
import torch
from loss_cases import CASES, Case, loss_and_grad

from gradedpr.losses.ranking_utils import widen_for_gain

GAIN_CASES = [c for c in CASES if c.name in {"listnet", "xe_ndcg", "approx_ndcg", "neural_ndcg", "lambdaloss",
                                              "graded_infonce"} and c.name != "listnet_softmax"]


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    scores = torch.randn(3, 6, generator=gen)
    labels = torch.tensor([[130, 0, 129, 1, 0, 2], [200, 5, 0, 0, 3, 199], [2, 1, 0, 0, 1, 0]])
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[2, 5] = False
    return scores, labels, mask


@pytest.mark.parametrize("case", GAIN_CASES, ids=lambda c: c.id)
def test_exp2_gain_of_grades_above_127_is_finite(case: Case) -> None:
    scores, labels, mask = _batch()
    value, grad = loss_and_grad(case, scores, labels, mask)
    assert torch.isfinite(value), case.id
    assert torch.isfinite(grad).all(), case.id
    assert value.dtype == scores.dtype


@pytest.mark.parametrize("case", GAIN_CASES, ids=lambda c: c.id)
def test_large_grades_give_the_float64_value(case: Case) -> None:
    """float32 scores with huge grades give what the same loss computes on float64 scores."""
    scores, labels, mask = _batch()
    value32, grad32 = loss_and_grad(case, scores, labels, mask)
    value64, grad64 = loss_and_grad(case, scores.double(), labels, mask)
    assert value32.item() == pytest.approx(value64.item(), rel=1e-6, abs=1e-7)
    torch.testing.assert_close(grad32.double(), grad64, rtol=1e-5, atol=1e-7)


def test_ordinary_grades_are_not_widened() -> None:
    """Grades whose gains fit the score dtype leave the tensors untouched (same objects, same float32 path)."""
    scores = torch.randn(2, 64)
    grades = torch.randint(0, 100, (2, 64)).float()
    mask = torch.ones(2, 64, dtype=torch.bool)
    for gain in ("exp2", "linear"):
        clean, widened = widen_for_gain(scores, grades, mask, gain)
        assert clean is scores and widened is grades
    big = grades.clone()
    big[0, 0] = 128.0
    clean, widened = widen_for_gain(scores, big, mask, "exp2")
    assert clean.dtype == widened.dtype == torch.float64
    clean, widened = widen_for_gain(scores, big, mask, "linear")
    assert clean is scores and widened is big
