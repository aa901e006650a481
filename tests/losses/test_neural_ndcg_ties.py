"""NeuralNDCG at exactly tied scores: the gradient is symmetric in tied items, whatever their column order.

The value was always symmetric; the gradient of the NeuralSort row sums ``sum_k |s_j - s_k|`` used to take
one-sided derivatives in sort order at ties, so two tied items got different gradients and a grade-2 item
tied with a grade-1 one could be pushed down. Now ``|0|`` contributes 0 to the gradient (as ``torch.abs``).
"""

from __future__ import annotations

import pytest
import torch

from gradedpr.losses import get_loss
from gradedpr.losses.soft_permutation import abs_diff_row_sums


def _grad(
    scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, **kwargs: object
) -> torch.Tensor:
    leaf = scores.detach().clone().requires_grad_(True)
    if mask is None:
        mask = torch.ones_like(labels, dtype=torch.bool)
    value = get_loss("neural_ndcg", **kwargs)(leaf, labels, mask)
    (grad,) = torch.autograd.grad(value, leaf)
    return grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tied_items_with_equal_labels_get_the_same_gradient(dtype: torch.dtype) -> None:
    """Equal up to the rounding of torch's column reductions (an ulp or so; it was 100% before)."""
    scores = torch.tensor([[0.3, 0.3, -0.1, 0.3, 0.5], [0.0, 0.0, 0.0, 0.0, 0.0]], dtype=dtype)
    labels = torch.tensor([[2, 2, 0, 1, 2], [1, 2, 0, 2, 0]])
    grad = _grad(scores, labels)
    rtol = 1e-6 if dtype == torch.float32 else 1e-13
    for row, a, b in [(0, 0, 1), (1, 1, 3), (1, 2, 4)]:
        torch.testing.assert_close(grad[row, a], grad[row, b], rtol=rtol, atol=0.0)


@pytest.mark.parametrize("labels", [[1, 2, 0], [0, 2, 1], [2, 1, 0], [0, 1, 2]])
def test_at_equal_scores_the_best_item_is_pushed_up_most(labels: list[int]) -> None:
    grad = _grad(torch.zeros(1, 3), torch.tensor([labels]))[0]
    best, worst = labels.index(2), labels.index(0)
    assert grad[best] < 0 < grad[worst]
    assert grad[best] == grad.min() and grad[worst] == grad.max()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kwargs", [{}, {"k": 3, "gain": "linear"}, {"temperature": 0.3}])
def test_permuting_columns_permutes_the_gradient(seed: int, kwargs: dict[str, object]) -> None:
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(-2, 3, (3, 7), generator=gen).float() / 2  # many exact ties
    labels = torch.randint(0, 3, (3, 7), generator=gen)
    mask = torch.rand(3, 7, generator=gen) > 0.2
    perm = torch.randperm(7, generator=gen)
    grad = _grad(scores, labels, mask, **kwargs)
    permuted = _grad(scores[:, perm], labels[:, perm], mask[:, perm], **kwargs)
    torch.testing.assert_close(permuted, grad[:, perm], rtol=1e-5, atol=1e-7)


def test_abs_diff_row_sums_gradient_is_that_of_torch_abs_also_at_ties() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(-2, 3, (4, 9), generator=gen).double()
    mask = torch.rand(4, 9, generator=gen) > 0.25
    weights = torch.randn(4, 9, generator=gen, dtype=torch.float64)

    ours = scores.clone().requires_grad_(True)
    (abs_diff_row_sums(ours.masked_fill(~mask, 0.0), mask) * weights).sum().backward()

    brute = scores.clone().requires_grad_(True)
    both = mask.unsqueeze(-1) & mask.unsqueeze(-2)
    diffs = (brute.unsqueeze(-1) - brute.unsqueeze(-2)).abs() * both
    ((diffs.sum(dim=-1) * mask) * weights).sum().backward()
    assert ours.grad is not None and brute.grad is not None
    torch.testing.assert_close(ours.grad, brute.grad, rtol=0, atol=1e-12)


def test_abs_diff_row_sums_passes_gradcheck_on_distinct_scores() -> None:
    scores = torch.randn(2, 6, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True, True, False, True, True, False]])
    assert torch.autograd.gradcheck(lambda s: abs_diff_row_sums(s, mask), (scores.requires_grad_(True),))
