"""oneDNN availability, the process-wide switch, and the row bucketing of the CPU inference kernels.

PyTorch's CPU build ships oneDNN beside MKL; ``torch.ops.mkldnn._linear_pointwise`` runs a linear layer through
it. oneDNN (and PyTorch's ideep layer over it) caches a kernel per input shape, about 0.6 MB each for MiniLM's
layers, up to 1,024 shapes per cache. Encoder passes have a different number of rows (tokens) almost every
time, so the caches would fill up to several hundred MB. Inputs are therefore padded with zero rows to a
bucketed row count (:func:`row_bucket`: multiples of 64 up to 2,048 rows, then 32 sizes per doubling), which
costs ~1.5% extra rows and keeps the number of shapes, and the caches, small.

Whether a model's encodings use them is the model's ``accel`` attribute (:class:`~gradedpr.model.BiEncoder`,
default on), which the commands set from the ``accel`` setting of the train / index / evaluate configs; library
callers can also pass ``onednn=`` to :func:`gradedpr.encode.batching.encode_texts`. There is no process-wide
switch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MIN_BUCKET = 64
BUCKETS_PER_OCTAVE = 32


def onednn_available() -> bool:
    """Whether this PyTorch can run oneDNN linear layers."""
    ops = torch.ops.mkldnn
    return bool(torch.backends.mkldnn.is_available()) and hasattr(ops, "_linear_pointwise") and hasattr(
        ops, "_reorder_linear_weight"
    )


def row_bucket(rows: int) -> int:
    """``rows`` rounded up to a multiple of max(64, 2^ceil(log2 rows) / 32): at most 1/32 (~1.5% on average)
    extra rows, and only 32 distinct sizes per power of two."""
    if rows <= MIN_BUCKET:
        return MIN_BUCKET
    step = max(MIN_BUCKET, (1 << (rows - 1).bit_length()) // BUCKETS_PER_OCTAVE)
    return -(-rows // step) * step


def cpu_float32_module(module: nn.Module) -> bool:
    """True when ``module`` has parameters and all of them are float32 on the CPU (what the kernels handle)."""
    params = list(module.parameters())
    return bool(params) and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params)


def pad_rows(flat: Tensor) -> Tensor:
    """``flat`` (2-D) with zero rows appended up to :func:`row_bucket` of its row count (itself if already there)."""
    rows = flat.shape[0]
    size = row_bucket(rows)
    if size == rows:
        return flat
    padded = flat.new_empty((size, flat.shape[1]))
    padded[:rows] = flat
    padded[rows:].zero_()
    return padded
