"""Shared helpers: masked softmax, reduction rule, ranks, ideal DCG, NeuralSort row sums, Sinkhorn."""

from __future__ import annotations

import math

import pytest
import torch

from gradedpr.losses.ranking_utils import (
    gains,
    ideal_dcg,
    masked_log_softmax,
    masked_softmax,
    pair_mask,
    predicted_ranks,
    reduce_lists,
)
from gradedpr.losses.soft_permutation import abs_diff_row_sums, neural_sort, sinkhorn, sinkhorn_scaling


def test_gains_linear_and_exp2_negative_grades_are_zero() -> None:
    labels = torch.tensor([[-2.0, 0.0, 1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, True, True, True, False]])
    assert gains(labels, mask, "linear").tolist() == [[0.0, 0.0, 1.0, 2.0, 0.0]]
    assert gains(labels, mask, "exp2").tolist() == [[0.0, 0.0, 1.0, 3.0, 0.0]]
    with pytest.raises(ValueError, match="gain"):
        gains(labels, mask, "log")


def test_ideal_dcg_by_hand() -> None:
    g = torch.tensor([[1.0, 0.0, 3.0, 1.0]])
    # sorted [3, 1, 1, 0]: 3/log2(2) + 1/log2(3) + 1/log2(4)
    full = 3.0 + 1.0 / math.log2(3.0) + 0.5
    assert ideal_dcg(g).item() == pytest.approx(full)
    assert ideal_dcg(g, k=2).item() == pytest.approx(3.0 + 1.0 / math.log2(3.0))


def test_masked_softmax_fully_masked_row_is_zero_and_finite() -> None:
    scores = torch.tensor([[1.0, 2.0, 3.0], [1e30, -1e30, 5.0]], requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    log_p = masked_log_softmax(scores, mask)
    p = masked_softmax(scores, mask)
    assert torch.isfinite(log_p).all()
    assert p[0].sum().item() == pytest.approx(1.0)
    assert p[0, 1].item() == 0.0
    assert p[1].tolist() == [0.0, 0.0, 0.0]
    (log_p.sum() + p.sum()).backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()
    assert torch.all(scores.grad[~mask] == 0)


def test_reduce_lists_mean_over_valid_and_zero_with_gradient() -> None:
    scores = torch.randn(3, 2, requires_grad=True)
    per_list = scores.sum(dim=-1)
    valid = torch.tensor([True, False, True])
    got = reduce_lists(per_list, valid, scores)
    assert got.item() == pytest.approx((per_list[0] + per_list[2]).item() / 2)
    nan_list = torch.tensor([1.0, float("nan"), 3.0])
    assert reduce_lists(nan_list, valid, scores).item() == pytest.approx(2.0)
    none = reduce_lists(per_list, torch.zeros(3, dtype=torch.bool), scores)
    assert none.item() == 0.0
    none.backward()
    assert scores.grad is not None and torch.all(scores.grad == 0)


def test_predicted_ranks_ties_by_column_padding_last() -> None:
    scores = torch.tensor([[0.5, 2.0, 0.5, 9.0, -1.0]])
    mask = torch.tensor([[True, True, True, False, True]])
    assert predicted_ranks(scores, mask).tolist() == [[2.0, 1.0, 3.0, 5.0, 4.0]]


def test_pair_mask_clamps_negative_grades() -> None:
    labels = torch.tensor([[2.0, -1.0, 0.0, 2.0]])
    mask = torch.tensor([[True, True, True, False]])
    pairs = pair_mask(labels, mask)[0]
    assert pairs.nonzero().tolist() == [[0, 1], [0, 2]]


def test_abs_diff_row_sums_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 9, generator=g, dtype=torch.float64)
    scores[1, 3] = scores[1, 5]  # a tie
    mask = torch.rand(4, 9, generator=g) > 0.3
    mask[2] = False
    got = abs_diff_row_sums(scores.masked_fill(~mask, 0.0), mask)
    for b in range(4):
        for j in range(9):
            want = sum(abs(scores[b, j] - scores[b, q]).item() for q in range(9) if mask[b, q]) if mask[b, j] else 0
            assert got[b, j].item() == pytest.approx(want, abs=1e-9)


def test_neural_sort_then_sinkhorn_is_doubly_stochastic_with_padding() -> None:
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(3, 6, generator=g, dtype=torch.float64) * 2
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2] = False
    p = sinkhorn(neural_sort(scores.masked_fill(~mask, 0.0), mask, 1.0), max_iter=5000, tol=1e-10)
    assert torch.allclose(p.sum(dim=-1), torch.ones(3, 6, dtype=torch.float64), atol=1e-8)
    assert torch.allclose(p.sum(dim=-2), torch.ones(3, 6, dtype=torch.float64), atol=1e-8)
    # list 1: ranks 1..4 live on the 4 valid items, ranks 5..6 on the padded ones
    assert p[1, :4, 4:].abs().max().item() < 1e-12
    assert p[1, 4:, :4].abs().max().item() < 1e-12


def test_neural_sort_rows_follow_the_descending_order_at_low_temperature() -> None:
    scores = torch.tensor([[0.1, 0.9, -0.5, 0.4]], dtype=torch.float64)
    p = neural_sort(scores, torch.ones(1, 4, dtype=torch.bool), 1e-3)
    assert p[0].argmax(dim=-1).tolist() == [1, 3, 0, 2]


def _autograd_scaling(p0: torch.Tensor, max_iter: int, tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The same Sinkhorn-Knopp recurrence written with plain autograd ops (independent of the custom backward)."""
    u = torch.ones(p0.shape[:-1], dtype=p0.dtype)
    v = torch.ones_like(u)
    done = torch.zeros(p0.shape[0], 1, dtype=torch.bool)
    for _ in range(max_iter):
        a = (u.unsqueeze(-2) @ p0).squeeze(-2)
        done = done | ((v * a - 1).abs().amax(-1, keepdim=True) < tol)
        if bool(done.all()):
            break
        v = torch.where(done, v, 1 / a)
        u = torch.where(done, u, 1 / (p0 @ v.unsqueeze(-1)).squeeze(-1))
    return u, v


@pytest.mark.parametrize(("max_iter", "tol"), [(0, 1e-6), (1, 1e-6), (6, 1e-6), (50, 1e-3), (50, 1e-6)])
def test_sinkhorn_custom_backward_matches_autograd(max_iter: int, tol: float) -> None:
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(3, 6, generator=g, dtype=torch.float64) * 2
    scores[0] = torch.linspace(9.0, -9.0, 6, dtype=torch.float64)  # this list converges early
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 4:] = False
    p0 = neural_sort(scores.masked_fill(~mask, 0.0), mask, 1.0).detach().requires_grad_(True)
    w_u = torch.randn(3, 6, generator=g, dtype=torch.float64)
    w_v = torch.randn(3, 6, generator=g, dtype=torch.float64)
    u1, v1 = sinkhorn_scaling(p0, max_iter, tol)
    (g1,) = torch.autograd.grad((u1 * w_u).sum() + (v1 * w_v).sum(), p0)
    u2, v2 = _autograd_scaling(p0, max_iter, tol)
    assert torch.allclose(u1, u2, atol=1e-12) and torch.allclose(v1, v2, atol=1e-12)
    if max_iter == 0:
        assert torch.all(g1 == 0)
        return
    (g2,) = torch.autograd.grad((u2 * w_u).sum() + (v2 * w_v).sum(), p0)
    assert torch.allclose(g1, g2, atol=1e-10)


def test_sinkhorn_scaling_passes_gradcheck() -> None:
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(2, 4, generator=g, dtype=torch.float64)
    p0 = neural_sort(scores, torch.ones(2, 4, dtype=torch.bool), 1.0).detach().requires_grad_(True)
    # a fixed iteration count (tol far below reach) keeps the function smooth for finite differences
    assert torch.autograd.gradcheck(lambda p: sinkhorn_scaling(p, 5, 1e-300), (p0,))
