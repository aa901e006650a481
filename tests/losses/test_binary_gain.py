"""gain="binary": any graded loss on grades 0/1/2 equals the same loss on the binarised labels."""

from __future__ import annotations

import pytest
import torch

from gradedpr.losses import get_loss
from gradedpr.losses.ranking_utils import gains


@pytest.mark.parametrize("name", ["graded_infonce", "listnet", "approx_ndcg", "xe_ndcg"])
def test_binary_gain_is_the_loss_on_binarised_labels(name: str) -> None:
    torch.manual_seed(0)
    scores = torch.randn(4, 9, dtype=torch.float64) * 3
    labels = torch.randint(0, 3, (4, 9))
    labels[:, 0] = 2
    mask = torch.rand(4, 9) > 0.2
    mask[:, 0] = True
    kwargs = {"gamma": 0.5} if name == "xe_ndcg" else {}
    binary = get_loss(name, gain="binary", **kwargs)(scores, labels, mask)
    binarised = get_loss(name, gain="linear", **kwargs)(scores, (labels > 0).long(), mask)
    torch.testing.assert_close(binary, binarised, rtol=1e-12, atol=1e-12)


def test_binary_gain_values() -> None:
    labels = torch.tensor([[0.0, 1.0, 2.0, 5.0, -1.0]])
    mask = torch.tensor([[True, True, True, True, False]])
    assert gains(labels, mask, "binary").tolist() == [[0.0, 1.0, 1.0, 1.0, 0.0]]
