"""Pooling of token states into one vector: the [CLS] state (DPR) or the masked mean (sentence-transformers)."""

from __future__ import annotations

import torch
from torch import Tensor


def pool(hidden: Tensor, attention_mask: Tensor, mode: str) -> Tensor:
    """Pool ``hidden`` [B, T, H] with ``attention_mask`` [B, T] into [B, H]."""
    if mode == "cls":
        return hidden[:, 0]
    if mode == "mean":
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * weights).sum(dim=1)
        count = weights.sum(dim=1).clamp(min=1e-9)
        return summed / count
    raise ValueError(f"unknown pooling {mode!r}; use 'cls' or 'mean'")


def l2_normalize(x: Tensor) -> Tensor:
    """Unit-length rows; a zero row stays zero instead of becoming NaN."""
    return torch.nn.functional.normalize(x, p=2.0, dim=-1, eps=1e-12)
