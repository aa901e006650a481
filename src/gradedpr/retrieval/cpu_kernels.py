"""oneDNN linear layers for CPU inference: prepacked weights and a fused GELU, swapped in while encoding.

``torch.nn.Linear`` on CPU runs through MKL's sgemm. oneDNN (also bundled with PyTorch) has its own JIT
kernels; on the benchmark machine (AMD EPYC, AVX-512) they run BERT's projection shapes 7-14% faster, and
more with the weights reordered once into oneDNN's blocked layout, and they can apply the exact (erf) GELU
of BERT's feed-forward layer as a post-op instead of a separate pass over memory.

oneDNN (and PyTorch's ideep layer over it) caches a kernel per input shape, about 0.6 MB each for MiniLM's
layers, up to 1,024 shapes per cache. Encoding passes have a different number of rows (tokens) almost every
time, so the caches would fill up to several hundred MB. The inputs are therefore padded with zero rows to
a bucketed row count (:func:`row_bucket`: multiples of 64 up to 2,048 rows, then 32 sizes per doubling),
which costs ~1.5% extra rows and keeps the number of shapes, and the caches, small.

:func:`onednn_linears` swaps this in for the duration of an inference block: every float32 ``nn.Linear`` of
the module gets an instance-level ``forward`` calling ``torch.ops.mkldnn._linear_pointwise`` on prepacked
weights, and a BERT-style intermediate block (``dense`` followed by an exact ``GELUActivation``) gets the
fused version. On exit the instances get their own ``forward`` back. Results equal ``nn.Linear``'s up to
float rounding (a different summation order). It only engages on CPU, in inference (no autograd: the op has
no backward) and when PyTorch has the op; otherwise the block runs unchanged. ``GRADEDPR_ONEDNN=0`` turns it
off.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

PACK_BATCH_HINT = 2048
"""Rows the weight layout is tuned for (passes hold up to ~2k tokens); any row count works."""

MIN_BUCKET = 64
BUCKETS_PER_OCTAVE = 32


def onednn_available() -> bool:
    """Whether this PyTorch can run oneDNN linear layers (and the user did not switch them off)."""
    if os.environ.get("GRADEDPR_ONEDNN", "1") == "0":
        return False
    ops = torch.ops.mkldnn
    return bool(torch.backends.mkldnn.is_available()) and hasattr(ops, "_linear_pointwise") and hasattr(
        ops, "_reorder_linear_weight"
    )


def _is_exact_gelu(module: Any) -> bool:
    """True for transformers' ``GELUActivation`` computing the erf GELU (``nn.functional.gelu``)."""
    return type(module).__name__ == "GELUActivation" and getattr(module, "act", None) is nn.functional.gelu


def row_bucket(rows: int) -> int:
    """``rows`` rounded up to a multiple of max(64, 2^ceil(log2 rows) / 32): at most 1/32 (~1.5% on average)
    extra rows, and only 32 distinct sizes per power of two."""
    if rows <= MIN_BUCKET:
        return MIN_BUCKET
    step = max(MIN_BUCKET, (1 << (rows - 1).bit_length()) // BUCKETS_PER_OCTAVE)
    return -(-rows // step) * step


def _linear_forward(weight: Tensor, bias: Tensor | None, post_op: str) -> Callable[[Tensor], Tensor]:
    op = torch.ops.mkldnn._linear_pointwise
    algorithm = "none" if post_op == "gelu" else ""

    def forward(x: Tensor) -> Tensor:
        features = x.shape[-1]
        rows = x.numel() // features
        flat = x.reshape(rows, features)
        size = row_bucket(rows)
        if size != rows:  # pad to a bucketed row count: oneDNN caches ~0.6 MB of kernel state per shape
            padded = flat.new_empty((size, features))
            padded[:rows] = flat
            padded[rows:].zero_()
            flat = padded
        out = op(flat, weight, bias, post_op, [], algorithm)[:rows]
        return out.reshape(*x.shape[:-1], out.shape[-1])

    return forward


def _usable(module: nn.Module) -> bool:
    params = list(module.parameters())
    return bool(params) and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params)


@contextlib.contextmanager
def onednn_linears(module: nn.Module, enabled: bool = True) -> Iterator[bool]:
    """Run ``module``'s linear layers through oneDNN inside the block (see the module docstring).

    Yields whether the swap took place. Use it only under ``torch.inference_mode()`` / ``no_grad``.
    """
    if not (enabled and onednn_available() and _usable(module)):
        yield False
        return
    patched: list[tuple[nn.Module, Any]] = []

    def patch(target: nn.Module, forward: Callable[[Tensor], Tensor]) -> None:
        patched.append((target, target.__dict__.get("forward")))
        target.forward = forward

    try:
        with torch.no_grad():
            fused: set[int] = set()
            for sub in module.modules():
                dense = getattr(sub, "dense", None)
                if isinstance(dense, nn.Linear) and _is_exact_gelu(getattr(sub, "intermediate_act_fn", None)):
                    packed = torch.ops.mkldnn._reorder_linear_weight(dense.weight.detach(), PACK_BATCH_HINT)
                    patch(sub, _linear_forward(packed, _detached(dense.bias), "gelu"))
                    fused.add(id(dense))
            for sub in module.modules():
                if isinstance(sub, nn.Linear) and id(sub) not in fused:
                    packed = torch.ops.mkldnn._reorder_linear_weight(sub.weight.detach(), PACK_BATCH_HINT)
                    patch(sub, _linear_forward(packed, _detached(sub.bias), "none"))
        yield True
    finally:
        for target, previous in reversed(patched):
            if previous is None:
                del target.forward
            else:
                target.forward = previous


def _detached(bias: Tensor | None) -> Tensor | None:
    return None if bias is None else bias.detach()
