"""Shared behaviour of the command-line drivers: our own errors print as one clear line, not a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from gradedpr.errors import GradedprError

T = TypeVar("T")
QUIET_LOGGERS = {"faiss.loader": logging.WARNING}
"""Libraries' loggers kept above INFO: FAISS's loader logs every CPU-specific library it tries (and the
``ModuleNotFoundError`` of each one it does not find) at the start of every run."""


def quiet_library_loggers() -> None:
    """Raise the level of the :data:`QUIET_LOGGERS` (their warnings and errors still show)."""
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def run_cli(main: Callable[[], T]) -> T:
    """Run ``main``; a :class:`GradedprError` (bad data, bad checkpoint) exits with status 2 and its message.

    Library loggers that only add noise (:data:`QUIET_LOGGERS`) are quietened first."""
    quiet_library_loggers()
    try:
        return main()
    except GradedprError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
