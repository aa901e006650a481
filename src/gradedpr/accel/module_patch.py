"""Temporarily giving module instances their own ``forward`` (the CPU kernels swap layers this way)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn

Patch = Callable[[nn.Module, Callable[..., Any]], None]


@contextlib.contextmanager
def patched_forwards() -> Iterator[Patch]:
    """Yield ``patch(module, forward)``, which sets an instance-level ``forward`` on ``module``; on exit, even
    through an exception, every patched instance gets back what it had (its class's ``forward`` or an earlier
    instance-level one), in reverse order."""
    patched: list[tuple[nn.Module, Any]] = []

    def patch(module: nn.Module, forward: Callable[..., Any]) -> None:
        patched.append((module, module.__dict__.get("forward")))
        module.forward = forward

    try:
        yield patch
    finally:
        for module, previous in reversed(patched):
            if previous is None:
                del module.forward
            else:
                module.forward = previous
