"""Laws every loss must obey: invariances, ranking order, gradient directions, edge cases, reduction rule."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loss_cases import CASES, Case, loss_and_grad

CASE_IDS = [c.id for c in CASES]


def _distinct_grades(size: int, g: torch.Generator) -> torch.Tensor:
    """A permutation of 0..size-1 (every grade distinct: no ties, exactly one grade 0)."""
    return torch.randperm(size, generator=g)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_invariant_to_permuting_the_list(case: Case) -> None:
    g = torch.Generator().manual_seed(11)
    scores = torch.randn(3, 6, generator=g, dtype=torch.float64) * 2
    labels = torch.stack([_distinct_grades(6, g) for _ in range(3)])
    if not case.tie_sensitive:  # ties in grades must not matter either
        labels[1] = torch.tensor([2, 0, 2, 1, 0, 0])
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[2, 4:] = False
    value, grad = loss_and_grad(case, scores, labels, mask)
    for _ in range(3):
        perm = torch.stack([torch.randperm(6, generator=g) for _ in range(3)])
        p_value, p_grad = loss_and_grad(case, scores.gather(1, perm), labels.gather(1, perm), mask.gather(1, perm))
        assert p_value.item() == pytest.approx(value.item(), rel=1e-9, abs=1e-9)
        assert torch.allclose(p_grad, grad.gather(1, perm), atol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("pad_value", [1e30, -1e30, 1e4, float("inf"), float("nan")])
def test_invariant_to_masked_padding(case: Case, pad_value: float) -> None:
    g = torch.Generator().manual_seed(5)
    scores = torch.randn(2, 5, generator=g) * 3
    labels = torch.randint(-1, 4, (2, 5), generator=g)
    labels[:, 0] = 2
    mask = torch.ones(2, 5, dtype=torch.bool)
    value, grad = loss_and_grad(case, scores, labels, mask)
    # insert 4 padded slots (arbitrary scores and grades) at fixed interleaved positions
    where = torch.tensor([0, 1, 0, 0, 1, 0, 1, 1, 0])  # 1 = padding
    wide_scores = torch.full((2, 9), pad_value)
    wide_labels = torch.full((2, 9), 3, dtype=labels.dtype)
    wide_mask = torch.zeros(2, 9, dtype=torch.bool)
    real = (where == 0).nonzero().flatten()
    wide_scores[:, real] = scores
    wide_labels[:, real] = labels
    wide_mask[:, real] = True
    w_value, w_grad = loss_and_grad(case, wide_scores, wide_labels, wide_mask)
    assert w_value.item() == pytest.approx(value.item(), rel=1e-5, abs=1e-6)
    assert torch.allclose(w_grad[:, real], grad, atol=1e-6)
    assert torch.all(w_grad[:, where == 1] == 0)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_perfect_ranking_beats_random_rankings(case: Case) -> None:
    labels = torch.tensor([[3, 2, 2, 1, 0, 0, 0, 0]])
    mask = torch.ones(1, 8, dtype=torch.bool)
    perfect_scores = torch.linspace(7.0, -7.0, 8, dtype=torch.float64).unsqueeze(0)  # gaps of 2
    perfect, _ = loss_and_grad(case, perfect_scores, labels, mask)
    g = torch.Generator().manual_seed(0)
    others = []
    for _ in range(20):
        shuffled = perfect_scores[:, torch.randperm(8, generator=g)]
        value, _ = loss_and_grad(case, shuffled, labels, mask)
        assert perfect.item() <= value.item() + 1e-9
        others.append(value.item())
    assert perfect.item() < max(others)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_gradient_pushes_relevant_up_and_irrelevant_down(case: Case) -> None:
    # the best item sits at the bottom of the current ranking, a non-relevant one at the top
    labels = torch.tensor([[2, 1, 0, 0]])
    scores = torch.tensor([[-0.3, -0.1, 0.1, 0.3]], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    _, grad = loss_and_grad(case, scores, labels, mask)
    assert grad[0, 0] < 0, grad  # gradient descent raises the grade-2 item
    assert grad[0, 3] > 0, grad  # and lowers the grade-0 item


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_no_relevant_item_anywhere_gives_zero_with_gradient(case: Case) -> None:
    scores = torch.randn(3, 4, requires_grad=True)
    labels = torch.tensor([[0, 0, -1, 0], [0, 0, 0, 0], [5, 0, 0, 0]])
    mask = torch.tensor([[True] * 4, [True] * 4, [False] * 4])
    value = case.build()(scores, labels, mask)
    assert value.item() == 0.0
    value.backward()
    assert scores.grad is not None
    assert torch.all(scores.grad == 0)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_empty_batch_and_empty_lists(case: Case) -> None:
    for shape in [(0, 4), (3, 0)]:
        scores = torch.zeros(shape, requires_grad=True)
        value = case.build()(scores, torch.zeros(shape, dtype=torch.long), torch.ones(shape, dtype=torch.bool))
        assert value.item() == 0.0
        value.backward()


# ----------------------------------------------------------------------------- fuzzing

SCORE_MODES = ("normal", "huge", "tiny_gaps", "ties")


@st.composite
def ranking_batches(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Small batches with awkward scores: +-1e4, gaps of 1e-6, all ties; any grades; masks incl. full."""
    batch = draw(st.integers(1, 3))
    size = draw(st.integers(1, 6))
    mode = draw(st.sampled_from(SCORE_MODES))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    if mode == "normal":
        scores = torch.randn(batch, size, generator=g) * 5
    elif mode == "huge":
        scores = (torch.randint(0, 2, (batch, size), generator=g) * 2 - 1) * 1e4 + torch.randn(batch, size, generator=g)
    elif mode == "tiny_gaps":
        scores = 1.0 + 1e-6 * torch.randperm(batch * size, generator=g).reshape(batch, size).float()
    else:
        scores = torch.full((batch, size), draw(st.sampled_from([0.0, 3.0, -1e4])))
    grade_kind = draw(st.sampled_from(["any", "zeros", "ties", "one_relevant"]))
    if grade_kind == "any":
        labels = torch.randint(-1, 4, (batch, size), generator=g)
    elif grade_kind == "zeros":
        labels = torch.zeros(batch, size, dtype=torch.long)
    elif grade_kind == "ties":
        labels = torch.ones(batch, size, dtype=torch.long)
    else:
        labels = torch.zeros(batch, size, dtype=torch.long)
        labels[:, 0] = 2
    mask_kind = draw(st.sampled_from(["all", "random", "row_empty"]))
    mask = torch.ones(batch, size, dtype=torch.bool)
    if mask_kind == "random":
        mask = torch.rand(batch, size, generator=g) > 0.3
    elif mask_kind == "row_empty":
        mask[0] = False
    return scores, labels, mask


FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@FUZZ
@given(batch=ranking_batches())
def test_fuzz_finite_value_and_gradient(case: Case, batch: tuple[torch.Tensor, ...]) -> None:
    scores, labels, mask = batch
    value, grad = loss_and_grad(case, scores, labels, mask)
    assert math.isfinite(value.item())
    assert torch.isfinite(grad).all()
    assert torch.all(grad[~mask] == 0)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@FUZZ
@given(batch=ranking_batches(), extra_seed=st.integers(0, 1000), extra_masked=st.booleans())
def test_fuzz_lists_without_relevant_items_do_not_change_the_mean(
    case: Case, batch: tuple[torch.Tensor, ...], extra_seed: int, extra_masked: bool
) -> None:
    scores, labels, mask = batch
    value, grad = loss_and_grad(case, scores, labels, mask)
    g = torch.Generator().manual_seed(extra_seed)
    size = scores.shape[1]
    extra_scores = torch.randn(1, size, generator=g) * 5
    extra_labels = torch.randint(-2, 1, (1, size), generator=g)  # grades <= 0 only
    extra_mask = torch.rand(1, size, generator=g) > 0.5 if extra_masked else torch.ones(1, size, dtype=torch.bool)
    more_value, more_grad = loss_and_grad(
        case,
        torch.cat([scores, extra_scores]),
        torch.cat([labels, extra_labels]),
        torch.cat([mask, extra_mask]),
    )
    assert more_value.item() == pytest.approx(value.item(), rel=1e-6, abs=1e-6)
    assert torch.allclose(more_grad[:-1], grad, rtol=1e-5, atol=1e-6)
    assert torch.all(more_grad[-1] == 0)
