"""oneDNN linear layers for CPU inference: prepacked weights and a fused GELU, swapped in while encoding.

``torch.nn.Linear`` on CPU runs through MKL's sgemm. oneDNN (also bundled with PyTorch) has its own JIT
kernels, which can use weights reordered once into oneDNN's blocked layout and apply the exact (erf) GELU
of BERT's feed-forward layer as a post-op instead of a separate pass over memory (what that is worth:
docs/BENCHMARKS.md, ``bench/encoding.py``).

Rows are padded to bucketed counts (:func:`gradedpr.accel.onednn.row_bucket`) so oneDNN's per-shape kernel
caches stay small.

:func:`onednn_linears` swaps this in for the duration of an inference block: every float32 ``nn.Linear`` of
the module gets an instance-level ``forward`` calling ``torch.ops.mkldnn._linear_pointwise`` on prepacked
weights, and a BERT-style intermediate block (``dense`` followed by an exact ``GELUActivation``) gets the
fused version. On exit the instances get their own ``forward`` back. Results equal ``nn.Linear``'s up to
float rounding (a different summation order). It only engages on CPU, in inference (no autograd: the op has
no backward) and when PyTorch has the op; otherwise the block runs unchanged. The ``accel`` config setting
(the model's ``accel`` attribute, set by the commands) turns it off. When the module has feed-forward blocks but none
with BERT's exact GELU (another activation), the linear layers still run through oneDNN, unfused, and a
warning says so once per model class.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from gradedpr.accel.module_patch import patched_forwards
from gradedpr.accel.onednn import cpu_float32_module, onednn_available, pad_rows, row_bucket

log = logging.getLogger(__name__)
_warned: set[str] = set()

__all__ = ["onednn_available", "onednn_linears", "row_bucket"]

PACK_BATCH_HINT = 2048
"""Rows the weight layout is tuned for (passes hold up to ~2k tokens); any row count works."""


def _is_exact_gelu(module: Any) -> bool:
    """True for transformers' ``GELUActivation`` computing the erf GELU (``nn.functional.gelu``)."""
    return type(module).__name__ == "GELUActivation" and getattr(module, "act", None) is nn.functional.gelu


def _linear_forward(weight: Tensor, bias: Tensor | None, post_op: str) -> Callable[[Tensor], Tensor]:
    op = torch.ops.mkldnn._linear_pointwise
    algorithm = "none" if post_op == "gelu" else ""

    def forward(x: Tensor) -> Tensor:
        features = x.shape[-1]
        rows = x.numel() // features
        flat = pad_rows(x.reshape(rows, features))  # bucketed row counts keep oneDNN's shape caches small
        out = op(flat, weight, bias, post_op, [], algorithm)[:rows]
        return out.reshape(*x.shape[:-1], out.shape[-1])

    return forward


@contextlib.contextmanager
def onednn_linears(module: nn.Module, on: bool = True) -> Iterator[bool]:
    """Run ``module``'s linear layers through oneDNN inside the block (see the module docstring).

    ``on``: False leaves the module as it is (the ``accel=false`` setting). Yields whether the swap took place.
    Use it only under ``torch.inference_mode()`` / ``no_grad``.
    """
    if not (on and cpu_float32_module(module)):
        yield False
        return
    if not onednn_available():  # pragma: no cover - every CPU build of torch 2.x has the op
        _warn_once("no-op", "accel: this PyTorch has no oneDNN linear op; encoding runs on plain nn.Linear")
        yield False
        return
    with patched_forwards() as patch:
        with torch.no_grad():
            fused: set[int] = set()
            for sub in module.modules():
                dense = getattr(sub, "dense", None)
                if isinstance(dense, nn.Linear) and _is_exact_gelu(getattr(sub, "intermediate_act_fn", None)):
                    packed = torch.ops.mkldnn._reorder_linear_weight(dense.weight.detach(), PACK_BATCH_HINT)
                    patch(sub, _linear_forward(packed, _detached(dense.bias), "gelu"))
                    fused.add(id(dense))
            blocks = [sub for sub in module.modules() if hasattr(sub, "intermediate_act_fn")]
            if blocks and not fused:
                name = type(module).__name__
                _warn_once(name, f"accel: {name} has {len(blocks)} feed-forward blocks but none with the exact "
                                 "(erf) GELU the fused kernel expects; its linear layers run through oneDNN "
                                 "without the fused activation")
            for sub in module.modules():
                if isinstance(sub, nn.Linear) and id(sub) not in fused:
                    packed = torch.ops.mkldnn._reorder_linear_weight(sub.weight.detach(), PACK_BATCH_HINT)
                    patch(sub, _linear_forward(packed, _detached(sub.bias), "none"))
        yield True


def _detached(bias: Tensor | None) -> Tensor | None:
    return None if bias is None else bias.detach()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)
