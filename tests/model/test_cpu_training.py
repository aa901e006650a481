"""CPU training kernels: oneDNN linear with backward, the cheaper dropout, the attention path, the switch."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from gradedpr.model import cpu_training
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.cpu_training import (
    ATTENTION_NAME,
    cpu_training_kernels,
    dropout_keep,
    fast_dropout,
    onednn_linear,
    training_attention,
)
from gradedpr.utils.onednn import onednn_available

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this PyTorch has no oneDNN linear op")


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@needs_onednn
@settings(max_examples=25, deadline=None)
@given(
    lead=st.lists(st.integers(1, 5), min_size=0, max_size=2),
    rows=st.sampled_from([1, 7, 63, 64, 65, 130]),
    features=st.integers(1, 24),
    out=st.integers(1, 24),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_onednn_linear_matches_nn_linear_values_and_gradients(
    lead: list[int], rows: int, features: int, out: int, bias: bool, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(*lead, rows, features, generator=generator, requires_grad=True)
    weight = torch.randn(out, features, generator=generator, requires_grad=True)
    b = torch.randn(out, generator=generator, requires_grad=True) if bias else None
    grad = torch.randn(*lead, rows, out, generator=generator)

    got = onednn_linear(x, weight, b)
    got_grads = torch.autograd.grad(got, [x, weight] + ([b] if b is not None else []), grad)
    want = nn.functional.linear(x, weight, b)
    want_grads = torch.autograd.grad(want, [x, weight] + ([b] if b is not None else []), grad)

    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


@needs_onednn
def test_onednn_linear_skips_gradients_nobody_needs() -> None:
    x = torch.randn(5, 3)
    weight = torch.randn(4, 3, requires_grad=True)
    (grad_w,) = torch.autograd.grad(onednn_linear(x, weight).sum(), [weight])
    torch.testing.assert_close(grad_w, torch.ones(5, 4).t() @ x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_drops_at_rate_p_and_scales_the_rest(p: float) -> None:
    torch.manual_seed(0)
    shape = (301, 333)  # odd element count: the last 64-bit draw is used for one element only
    keep = dropout_keep(shape, p)
    assert keep.shape == shape and keep.dtype == torch.bool
    n = keep.numel()
    assert abs(float((~keep).float().mean()) - p) < 5 * math.sqrt(p * (1 - p) / n)
    x = torch.ones(shape)
    out = fast_dropout(x, p)
    assert sorted(out.unique().tolist()) == [0.0, pytest.approx(1 / (1 - p))]
    assert abs(float(out.mean()) - 1.0) < 5 * math.sqrt(p / (1 - p) / n)  # inverted dropout keeps the mean


def test_dropout_gradient_is_the_mask_times_the_scale() -> None:
    x = torch.randn(40, 30, requires_grad=True)
    torch.manual_seed(2)
    out = fast_dropout(x, 0.4)
    (grad,) = torch.autograd.grad(out, [x], torch.full_like(out, 2.0))
    torch.manual_seed(2)
    keep = dropout_keep(x.shape, 0.4)
    torch.testing.assert_close(out, x.detach() * keep / 0.6)
    torch.testing.assert_close(grad, 2.0 * keep / 0.6)


def test_keep_p0_keeps_everything_and_bad_p_is_refused() -> None:
    assert bool(dropout_keep((7, 9), 0.0).all())
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="dropout probability"):
            dropout_keep((3,), p)


def test_fast_dropout_is_seeded_by_torch_and_off_when_not_training() -> None:
    x = torch.randn(64, 48)
    torch.manual_seed(3)
    first = fast_dropout(x, 0.3)
    torch.manual_seed(3)
    again = fast_dropout(x, 0.3)
    other = fast_dropout(x, 0.3)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert fast_dropout(x, 0.3, training=False) is x
    assert fast_dropout(x, 0.0) is x
    assert bool((fast_dropout(x, 1.0) == 0).all())


def _reference_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, keep: Tensor | None) -> Tensor:
    weights = q @ k.transpose(2, 3) / math.sqrt(q.shape[-1])
    if mask is not None:
        weights = weights.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(weights, dim=-1)
    if keep is not None:
        weights = weights * keep
    return (weights @ v).transpose(1, 2)


def _qkv(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=generator) for _ in range(3))
    lengths = torch.tensor([5, 3])
    mask = (torch.arange(5)[None, :] < lengths[:, None])[:, None, None, :].expand(2, 1, 5, 5)
    return q, k, v, mask


@pytest.mark.parametrize("additive", [False, True])
def test_training_attention_applies_mask_and_dropout(additive: bool) -> None:
    q, k, v, mask = _qkv()
    module = nn.Module().train()
    given_mask = torch.zeros(mask.shape).masked_fill(~mask, torch.finfo(torch.float32).min) if additive else mask
    torch.manual_seed(11)
    out, weights = training_attention(module, q, k, v, given_mask, dropout=0.25)
    torch.manual_seed(11)
    keep = dropout_keep((2, 3, 5, 5), 0.25) / 0.75
    torch.testing.assert_close(out, _reference_attention(q, k, v, mask, keep), rtol=1e-5, atol=1e-6)
    assert weights is not None and bool((weights[1, :, :, 3:] == 0).all())  # padded keys get no weight


def test_training_attention_without_dropout_is_sdpa() -> None:
    q, k, v, mask = _qkv(1)
    for module, dropout in ((nn.Module().train(), 0.0), (nn.Module().eval(), 0.0)):
        out, _ = training_attention(module, q, k, v, mask, dropout=dropout)
        torch.testing.assert_close(out, _reference_attention(q, k, v, mask, None), rtol=1e-5, atol=1e-6)


def _grads(model: BiEncoder, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    model.zero_grad(set_to_none=True)
    emb = model.encode_passages(batch)
    (emb * torch.linspace(-1, 1, emb.shape[1])).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.passage_encoder.named_parameters() if p.grad is not None}
    return emb.detach(), grads


def test_biencoder_training_pass_equals_the_stock_one_with_dropout_as_identity(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With dropout replaced by the identity, the kernel path (train mode) must reproduce the stock model without
    dropout (eval mode): outputs and all gradients, through the padding mask."""
    model = BiEncoder.from_pretrained(tiny_model_dir)
    batch = model.tokenize(["tiny", "a much longer passage with many more words than the first"], "passage")
    assert bool((batch["attention_mask"] == 0).any())
    want_emb, want_grads = _grads(model.eval(), batch)

    calls: dict[str, int] = {"dropout": 0, "linear": 0}

    def no_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
        assert p > 0 and training
        calls["dropout"] += 1
        return x

    real_linear = cpu_training.onednn_linear

    def counting_linear(*args: Any) -> Tensor:
        calls["linear"] += 1
        return real_linear(*args)

    monkeypatch.setattr(cpu_training, "fast_dropout", no_dropout)
    monkeypatch.setattr(cpu_training, "onednn_linear", counting_linear)
    got_emb, got_grads = _grads(model.train(), batch)

    layers = model.passage_encoder.config.num_hidden_layers
    assert calls["dropout"] == 1 + 3 * layers  # embeddings + attention probabilities + 2 hidden dropouts per layer
    assert calls["linear"] == (6 * layers if onednn_available() else 0)
    torch.testing.assert_close(got_emb, want_emb, rtol=1e-4, atol=1e-5)
    assert got_grads.keys() == want_grads.keys()
    for name, grad in want_grads.items():
        torch.testing.assert_close(got_grads[name], grad, rtol=1e-3, atol=1e-5, msg=name)
    encoder = model.passage_encoder
    assert encoder.config._attn_implementation == "sdpa"
    assert not any("forward" in m.__dict__ for m in encoder.modules())


def test_seeded_training_passes_repeat_exactly(tiny_model_dir: Path) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir).train()
    batch = model.tokenize(["one passage", "and another, longer passage"], "passage")
    torch.manual_seed(5)
    first = model.encode_passages(batch)
    torch.manual_seed(5)
    second = model.encode_passages(batch)
    third = model.encode_passages(batch)
    assert torch.equal(first, second) and not torch.equal(first, third)


def test_kernels_engage_only_when_they_apply(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = BiEncoder.from_pretrained(tiny_model_dir).passage_encoder.train()
    linear = encoder.encoder.layer[0].attention.self.query
    dropout = encoder.embeddings.dropout

    with cpu_training_kernels(encoder) as active:
        assert active and encoder.config._attn_implementation == ATTENTION_NAME
        assert "forward" in dropout.__dict__ and ("forward" in linear.__dict__) == onednn_available()
    with torch.no_grad(), cpu_training_kernels(encoder) as active:
        assert not active
    with cpu_training_kernels(encoder, enabled=False) as active:
        assert not active
    with cpu_training_kernels(nn.Linear(3, 3).double()) as active:
        assert not active

    monkeypatch.setenv("GRADEDPR_ONEDNN", "0")
    with cpu_training_kernels(encoder) as active:
        assert active and "forward" not in linear.__dict__ and "forward" in dropout.__dict__
    monkeypatch.setenv("GRADEDPR_FAST_DROPOUT", "0")
    with cpu_training_kernels(encoder) as active:
        assert not active and encoder.config._attn_implementation == "sdpa"

    monkeypatch.delenv("GRADEDPR_ONEDNN")
    monkeypatch.delenv("GRADEDPR_FAST_DROPOUT")
    with pytest.raises(RuntimeError, match="boom"), cpu_training_kernels(encoder):
        raise RuntimeError("boom")
    assert encoder.config._attn_implementation == "sdpa"
    assert not any("forward" in m.__dict__ for m in encoder.modules())
