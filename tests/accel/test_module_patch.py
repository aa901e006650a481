"""patched_forwards: instance-level forwards set inside the block, the previous ones back on exit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradedpr.accel.module_patch import patched_forwards


def test_patches_are_undone_in_order_even_on_error() -> None:
    layer = nn.Linear(2, 2)
    x = torch.ones(1, 2)
    want = layer(x)

    def earlier(_: torch.Tensor) -> str:
        return "earlier"

    layer.forward = earlier  # an instance-level forward that was there before the block
    with pytest.raises(RuntimeError, match="inside"), patched_forwards() as patch:
        patch(layer, lambda _: "first")
        patch(layer, lambda _: "second")
        assert layer(x) == "second"
        raise RuntimeError("inside")
    assert layer(x) == "earlier"
    del layer.forward
    with patched_forwards() as patch:
        patch(layer, lambda _: "patched")
        assert layer(x) == "patched"
    assert "forward" not in layer.__dict__
    torch.testing.assert_close(layer(x), want)
