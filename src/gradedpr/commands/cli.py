"""Shared behaviour of the command-line drivers: our own errors print as one clear line, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from gradedpr.errors import GradedprError

T = TypeVar("T")


def run_cli(main: Callable[[], T]) -> T:
    """Run ``main``; a :class:`GradedprError` (bad data, bad checkpoint) exits with status 2 and its message."""
    try:
        return main()
    except GradedprError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
