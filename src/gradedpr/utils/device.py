"""Device auto-detection and mixed precision: CUDA with bf16 autocast when present, else CPU in float32."""

from __future__ import annotations

import contextlib
import os
from contextlib import AbstractContextManager

import torch


def pick_device(name: str = "auto") -> torch.device:
    """The one device picker: ``auto`` is ``cuda:LOCAL_RANK`` when CUDA is available (``cuda:0`` outside
    ``torchrun``), else CPU; any other torch device string is taken as it is."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
        return torch.device("cpu")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True) -> AbstractContextManager[object]:
    """bf16 autocast on CUDA (when the GPU supports it); a no-op on CPU."""
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
