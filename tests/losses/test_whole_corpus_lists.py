"""Pairwise and sorting losses on whole-corpus-like lists (a few judged items among many): the restricted
computations (judged x list pairs, the first k NeuralSort rows) equal the brute-force references."""

from __future__ import annotations

import loss_reference as ref
import pytest
import torch

from gradedpr.losses import get_loss
from gradedpr.losses.lambdaloss import higher_items


def sparse_case(seed: int, batch: int = 3, size: int = 120) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, size, generator=g, dtype=torch.float64) * 3
    labels = torch.zeros(batch, size, dtype=torch.long)
    for b, judged in enumerate((5, 1, 0)):  # 5 judged, 1 judged, none (no pair at all)
        columns = torch.randperm(size, generator=g)[:judged]
        labels[b, columns] = torch.randint(1, 4, (judged,), generator=g)
    mask = torch.ones(batch, size, dtype=torch.bool)
    mask[1, -20:] = False
    return scores, labels, mask


@pytest.mark.parametrize("weighting", ["ndcg_loss1", "ndcg_loss2", "ndcg_loss2pp", "lambdarank", "ranknet"])
@pytest.mark.parametrize("k", [None, 10])
def test_sparse_lists_match_the_reference(weighting: str, k: int | None) -> None:
    scores, labels, mask = sparse_case(0)
    got = float(get_loss("lambdaloss", weighting=weighting, k=k)(scores, labels, mask))
    want = ref.ref_lambdaloss(scores.tolist(), labels.tolist(), mask.tolist(), weighting=weighting, k=k)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_only_items_above_the_lowest_grade_are_gathered() -> None:
    _, labels, mask = sparse_case(1)
    rows, real = higher_items(labels, mask)
    assert rows.shape == (3, 5) and real.sum(dim=-1).tolist() == [5, 1, 0]
    for b in range(3):
        assert sorted(rows[b][real[b]].tolist()) == sorted(torch.nonzero(labels[b] > 0).flatten().tolist())
    all_judged = torch.tensor([[2, 1, 1, 3]])  # a list of judged items only: the grade-1 items are the lowest
    rows, real = higher_items(all_judged, torch.ones(1, 4, dtype=torch.bool))
    assert sorted(rows[0][real[0]].tolist()) == [0, 3]


@pytest.mark.parametrize("k", [1, 10, 200])
def test_neural_ndcg_at_k_without_sinkhorn_computes_k_rows_with_reference_values(k: int) -> None:
    scores, labels, mask = sparse_case(2, size=60)
    got = float(get_loss("neural_ndcg", k=k, max_iter=0, temperature=0.5)(scores, labels, mask))
    want = ref.ref_neural_ndcg(scores.tolist(), labels.tolist(), mask.tolist(), k=k, max_iter=0, temperature=0.5)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    from gradedpr.losses.soft_permutation import neural_sort

    full = neural_sort(scores, mask, 0.5)
    torch.testing.assert_close(neural_sort(scores, mask, 0.5, rows=k), full[:, : min(k, 60)])
