"""Device auto-detection and mixed precision: CUDA with bf16 autocast when present, else CPU in float32."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import torch


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; any torch device string is accepted."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True) -> AbstractContextManager[object]:
    """bf16 autocast on CUDA (when the GPU supports it); a no-op on CPU."""
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
