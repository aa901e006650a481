"""ApproxNDCG and NeuralNDCG tend to the exact NDCG of the list as their temperatures go to 0.

Tolerance: with distinct scores at least 0.1 apart and T = 1e-3 every sigmoid / softmax is saturated
to far below float64 rounding at the 1e-6 level, so |1 - loss - NDCG| < 1e-6 is required (NDCG from
the trec_eval-exact ``gradedpr.evaluation.metrics.list_ndcg``, linear gain, so the losses use
``gain="linear"``).
"""

from __future__ import annotations

import pytest
import torch

from gradedpr.evaluation.metrics import list_ndcg
from gradedpr.losses import get_loss

TOL = 1e-6


def _distinct_scores(size: int, g: torch.Generator) -> torch.Tensor:
    """Scores at least 0.1 apart: a shuffled grid with gap 0.2 plus noise of at most +-0.05."""
    grid = torch.randperm(size, generator=g).to(torch.float64) * 0.2
    return grid + (torch.rand(size, generator=g, dtype=torch.float64) - 0.5) * 0.1


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [None, 1, 3, 5])
def test_approx_ndcg_converges_to_exact_ndcg(seed: int, k: int | None) -> None:
    g = torch.Generator().manual_seed(seed)
    size = 8
    scores = _distinct_scores(size, g).unsqueeze(0)
    labels = torch.randint(0, 4, (1, size), generator=g)
    labels[0, 0] = 2
    mask = torch.ones(1, size, dtype=torch.bool)
    loss = get_loss("approx_ndcg", temperature=1e-3, cutoff_temperature=1e-3, gain="linear", k=k)
    exact = list_ndcg(scores[0].tolist(), labels[0].tolist(), k)
    assert abs(1.0 - loss(scores, labels, mask).item() - exact) < TOL


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [None, 1, 3, 5])
def test_neural_ndcg_converges_to_exact_ndcg(seed: int, k: int | None) -> None:
    g = torch.Generator().manual_seed(seed)
    size = 8
    scores = _distinct_scores(size, g).unsqueeze(0)
    labels = torch.randint(0, 4, (1, size), generator=g)
    labels[0, 0] = 2
    mask = torch.ones(1, size, dtype=torch.bool)
    loss = get_loss("neural_ndcg", temperature=1e-3, gain="linear", k=k)
    exact = list_ndcg(scores[0].tolist(), labels[0].tolist(), k)
    assert abs(1.0 - loss(scores, labels, mask).item() - exact) < TOL


def test_padding_does_not_enter_the_exact_limit() -> None:
    """Same limit with padded slots holding huge scores (they would rank first if they counted)."""
    g = torch.Generator().manual_seed(3)
    scores = _distinct_scores(6, g)
    labels = torch.tensor([3, 0, 1, 2, 0, 1])
    wide_scores = torch.cat([scores, torch.tensor([1e6, 1e6], dtype=torch.float64)]).unsqueeze(0)
    wide_labels = torch.cat([labels, torch.tensor([5, 5])]).unsqueeze(0)
    wide_mask = torch.tensor([[True] * 6 + [False] * 2])
    exact = list_ndcg(scores.tolist(), labels.tolist(), 3)
    for name, extra in [("approx_ndcg", {"cutoff_temperature": 1e-3}), ("neural_ndcg", {})]:
        loss = get_loss(name, temperature=1e-3, gain="linear", k=3, **extra)
        assert abs(1.0 - loss(wide_scores, wide_labels, wide_mask).item() - exact) < TOL


def test_documented_softness_at_temperature_one_on_raw_cosine() -> None:
    """Docs claim: on raw cosine scores T = 1 is far too soft; scores / 0.05 with T = 1 is fine."""
    labels = torch.tensor([[2, 1, 1, 0, 0, 0, 0, 0, 0, 0]])
    mask = torch.ones_like(labels, dtype=torch.bool)
    cosine = torch.linspace(0.8, 0.1, 10, dtype=torch.float64).unsqueeze(0)  # a perfect ranking
    approx = get_loss("approx_ndcg", gain="linear")
    neural = get_loss("neural_ndcg", gain="linear")
    # measured: ApproxNDCG 0.50 (raw) vs 0.91 (/0.05); NeuralNDCG 0.81 (raw) vs 0.98 (/0.05)
    assert 1.0 - approx(cosine, labels, mask).item() < 0.6
    assert 1.0 - approx(cosine / 0.05, labels, mask).item() > 0.85
    assert 1.0 - neural(cosine, labels, mask).item() < 0.85
    assert 1.0 - neural(cosine / 0.05, labels, mask).item() > 0.95
