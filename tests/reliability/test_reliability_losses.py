"""Bad input to the losses: grades whose exp2 gain no float can hold are refused with advice, not NaN."""

from __future__ import annotations

import pytest
import torch

from gradedpr.errors import DataError
from gradedpr.losses import get_loss


@pytest.mark.parametrize("name", ["listnet", "xe_ndcg", "approx_ndcg", "neural_ndcg", "lambdaloss", "graded_infonce"])
def test_exp2_gain_beyond_float64_is_a_data_error_advising_linear_gain(name: str) -> None:
    loss = get_loss(name)
    scores = torch.randn(1, 4)
    labels = torch.tensor([[2000, 1, 0, 0]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    with pytest.raises(DataError, match=r"grade 2000 .*gain='exp2'.*gain=linear"):
        loss(scores, labels, mask)
    linear = get_loss(name, gain="linear")(scores, labels, mask)
    assert torch.isfinite(linear)
