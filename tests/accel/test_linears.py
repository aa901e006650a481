"""oneDNN linear layers: same outputs as nn.Linear, swapped in only inside the block, off on request."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from gradedpr.accel.linears import onednn_available, onednn_linears, row_bucket
from gradedpr.model.biencoder import BiEncoder

pytestmark = pytest.mark.skipif(not onednn_available(), reason="this PyTorch has no oneDNN linear op")


def test_outputs_match_and_forwards_are_restored(tiny_model: BiEncoder) -> None:
    encoder = tiny_model.passage_encoder
    batch = tiny_model.tokenize(["a short one", "a somewhat longer passage with more words in it"], "passage")
    with torch.inference_mode():
        expected = encoder(**batch).last_hidden_state
        with onednn_linears(encoder) as active:
            assert active
            intermediate = encoder.encoder.layer[0].intermediate
            assert "forward" in intermediate.__dict__  # dense + exact GELU fused
            assert "forward" in encoder.encoder.layer[0].attention.self.query.__dict__
            got = encoder(**batch).last_hidden_state
            single = encoder(**{k: v[:1] for k, v in batch.items()}).last_hidden_state  # other row counts work
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(single, expected[:1, : single.shape[1]], rtol=1e-4, atol=1e-5)
    assert not any("forward" in m.__dict__ for m in encoder.modules())


def test_other_dtypes_and_the_switch_leave_the_model_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = nn.Linear(4, 3).double()
    with onednn_linears(layer) as active:
        assert not active and "forward" not in layer.__dict__
    with onednn_linears(nn.Linear(4, 3), on=False) as active:
        assert not active
    with onednn_linears(nn.Linear(4, 3)) as active:
        assert active
    import gradedpr.accel.onednn as switchboard

    assert not hasattr(switchboard, "set_enabled")  # the setting travels on the model (BiEncoder.accel), no global


class _ReluBlock(nn.Module):
    """A feed-forward block like BERT's, but with an activation the fused kernel does not handle."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(4, 8)
        self.intermediate_act_fn = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


@pytest.mark.skipif(not onednn_available(), reason="this PyTorch has no oneDNN linear op")
def test_a_block_without_exact_gelu_runs_unfused_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    block = _ReluBlock()
    x = torch.randn(5, 4)
    expected = block(x)
    with caplog.at_level("WARNING", logger="gradedpr.accel.linears"), torch.no_grad(), \
            onednn_linears(block) as active:
        got = block(x)
        assert active and "forward" not in block.__dict__ and "forward" in block.dense.__dict__
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert any("none with the exact (erf) GELU" in r.getMessage() for r in caplog.records)


@settings(max_examples=300, deadline=None)
@given(rows=st.integers(1, 100_000))
def test_row_buckets_waste_little_and_are_few(rows: int) -> None:
    size = row_bucket(rows)
    assert size >= rows and size % 64 == 0
    assert size - rows < max(64, rows / 16)  # under 1/16 extra (1/32 of the next power of two)


def test_few_distinct_buckets() -> None:
    assert len({row_bucket(r) for r in range(1, 2049)}) == 32
    assert len({row_bucket(r) for r in range(1, 16385)}) <= 32 * 4
