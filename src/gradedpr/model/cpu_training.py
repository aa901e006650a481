"""Faster CPU training steps for BERT-style encoders: oneDNN linear layers with a backward, and a cheaper dropout.

A CPU training step of MiniLM spends ~70% of its time in the linear layers' matrix products and ~9% drawing
dropout masks (``torch.bernoulli_`` costs ~6 ns per element; the attention-probability dropout alone covers
batch x heads x length^2 elements per layer). :func:`cpu_training_kernels` swaps two things in for the
duration of a forward pass, on CPU in float32 with autograd on:

* **Linear layers** run forward through oneDNN (``torch.ops.mkldnn._linear_pointwise``, ~10% faster than MKL's
  sgemm for BERT's projection shapes on the benchmark machine), wrapped in an autograd function whose
  backward computes the input gradient ``grad @ W`` with oneDNN as well and the weight gradient
  ``grad^T @ x`` with MKL (faster there). Rows are padded to bucketed counts (:mod:`gradedpr.utils.onednn`)
  so oneDNN's per-shape kernel caches stay small. Values equal ``nn.Linear``'s up to float rounding.
* **Dropout** (the ``nn.Dropout`` modules and the attention-probability dropout) keeps an element when a
  uniform 32-bit integer is at least ``round(p * 2^32) - 2^31``: two decisions per 64-bit draw of PyTorch's
  generator (so ``torch.manual_seed`` still makes runs reproducible), drop probability exact to 2^-33, kept
  values scaled by ``1 / (1 - p)`` as in ``torch.nn.functional.dropout``; autograd keeps the boolean mask
  (1 byte per element instead of a 4-byte multiplier). For the attention dropout the
  encoder's attention implementation is switched to :func:`training_attention` (registered with
  transformers' ``AttentionInterface``), which computes softmax(QK^T * scale + mask) with that dropout and
  hands every other case (no dropout, eval mode, causal attention) to transformers' SDPA function.

Everything is restored on exit; autograd keeps the functions it recorded, so ``backward()`` may run after
the block. ``GRADEDPR_ONEDNN=0`` leaves the linear layers alone, ``GRADEDPR_FAST_DROPOUT=0`` the dropout.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from gradedpr.utils.module_patch import patched_forwards
from gradedpr.utils.onednn import cpu_float32_module, onednn_available, pad_rows

ATTENTION_NAME = "gradedpr_cpu_training"
"""The name :func:`training_attention` is registered under in transformers' ``AttentionInterface``."""


def fast_dropout_enabled() -> bool:
    return os.environ.get("GRADEDPR_FAST_DROPOUT", "1") != "0"


# ---------------------------------------------------------------------------------------------- linear layers
class OneDNNLinear(torch.autograd.Function):
    """``x @ W^T + b`` with oneDNN forward and input-gradient products, MKL for the weight gradient."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])
        rows = flat.shape[0]
        out = torch.ops.mkldnn._linear_pointwise(pad_rows(flat), weight, bias, "none", [], "")[:rows]
        ctx.save_for_backward(flat, weight)
        ctx.has_bias = bias is not None
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        flat, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1]).contiguous()
        rows = g.shape[0]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_flat = torch.ops.mkldnn._linear_pointwise(pad_rows(g), weight.t().contiguous(), None, "none", [], "")
            grad_x = grad_flat[:rows].reshape(*grad.shape[:-1], flat.shape[1])
        if ctx.needs_input_grad[1]:
            grad_w = g.t().mm(flat)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(0)
        return grad_x, grad_w, grad_b


def onednn_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``torch.nn.functional.linear`` through oneDNN, differentiable (see :class:`OneDNNLinear`)."""
    out: Tensor = OneDNNLinear.apply(x, weight, bias)
    return out


def _linear_forward(module: nn.Linear) -> Any:
    def forward(x: Tensor) -> Tensor:
        if x.dtype != module.weight.dtype:  # e.g. under autocast: leave it to nn.Linear
            return nn.functional.linear(x, module.weight, module.bias)
        return onednn_linear(x, module.weight, module.bias)

    return forward


# ---------------------------------------------------------------------------------------------- dropout
def dropout_keep(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu") -> Tensor:
    """A boolean keep mask of ``shape``, each element dropped (False) with probability ``p``.

    Two decisions come from each uniform 64-bit draw of PyTorch's default generator (its two 32-bit halves):
    an element is kept when its half is >= ``round(p * 2^32) - 2^31``.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    count = math.prod(int(size) for size in shape)
    draws = torch.empty((count + 1) // 2, dtype=torch.int64, device=device).random_(-(2**63), None)
    return draws.view(torch.int32)[:count].view(shape) >= round(p * 2**32) - 2**31


class _KeepScale(torch.autograd.Function):
    """``x * keep * scale``, saving the boolean mask (1 byte per element) rather than a float multiplier."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, keep: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x.mul(keep).mul_(scale)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None, None


def fast_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Inverted dropout like ``torch.nn.functional.dropout`` (kept values scaled by ``1 / (1 - p)``) with the
    cheaper mask of :func:`dropout_keep`."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    out: Tensor = _KeepScale.apply(x, dropout_keep(x.shape, p, x.device), 1.0 / (1.0 - p))
    return out


def _dropout_forward(module: nn.Dropout) -> Any:
    def forward(x: Tensor) -> Tensor:
        return fast_dropout(x, module.p, module.training)

    return forward


# ---------------------------------------------------------------------------------------------- attention
def training_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Tensor, Tensor | None]:
    """Bidirectional attention with :func:`fast_dropout` on the probabilities; other cases go to SDPA.

    Signature and result follow transformers' attention functions: ``query`` / ``key`` / ``value`` are
    ``[batch, heads, length, head_dim]``, ``attention_mask`` is boolean (True = attend) or additive, and the
    output is ``[batch, length, heads, head_dim]`` with the attention weights.
    """
    causal = bool(kwargs.get("is_causal") or getattr(module, "is_causal", False))
    unusual_mask = attention_mask is not None and attention_mask.dim() != 4
    if dropout == 0.0 or not module.training or causal or unusual_mask:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        result: tuple[Tensor, Tensor | None] = sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
        return result
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + attention_mask
    weights = fast_dropout(torch.softmax(weights, dim=-1), dropout)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


@functools.cache
def _register_attention() -> bool:
    """Register :func:`training_attention` and, for its masks, transformers' SDPA mask builder (boolean masks,
    None without padding) under :data:`ATTENTION_NAME`, once per process; False when this transformers lacks
    the interfaces."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    AttentionInterface.register(ATTENTION_NAME, training_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
    return True


# ---------------------------------------------------------------------------------------------- the switch
@contextlib.contextmanager
def cpu_training_kernels(encoder: nn.Module, enabled: bool = True) -> Iterator[bool]:
    """Run ``encoder``'s linear layers and dropout through the faster CPU kernels inside the block.

    Yields whether anything was swapped in: only on CPU, in float32, with autograd enabled, not under CPU
    autocast, and as far as ``GRADEDPR_ONEDNN`` / ``GRADEDPR_FAST_DROPOUT`` allow.
    """
    active = enabled and torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")
    active = active and cpu_float32_module(encoder)
    linears = active and onednn_available()
    dropout = active and fast_dropout_enabled()
    if not (linears or dropout):
        yield False
        return
    config = getattr(encoder, "config", None)
    previous_attention = getattr(config, "_attn_implementation", None)
    switch_attention = (
        dropout and previous_attention == "sdpa" and hasattr(encoder, "set_attn_implementation")
        and _register_attention()
    )
    with patched_forwards() as patch:
        for sub in encoder.modules():
            if linears and isinstance(sub, nn.Linear):
                patch(sub, _linear_forward(sub))
            elif dropout and isinstance(sub, nn.Dropout):
                patch(sub, _dropout_forward(sub))
        if not switch_attention:
            yield True
            return
        encoder.set_attn_implementation(ATTENTION_NAME)  # type: ignore[operator]
        try:
            yield True
        finally:
            encoder.set_attn_implementation(previous_attention)  # type: ignore[operator]
