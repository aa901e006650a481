"""Shared behaviour of the command-line drivers: every failure a user can meet ends in one line, not a traceback.

- a :class:`GradedprError` (bad data, settings, checkpoint, output): ``error: <message>``, exit status 2;
- an environment error (a full disk, a read-only or unwritable directory, a missing one: see
  :mod:`gradedpr.utils.oserrors`): ``error: <path>: <cause> [ERRNO]; <what is intact>``, exit status 2;
- Ctrl-C (``KeyboardInterrupt``): ``interrupted: <what is intact and how to go on>``, exit status 130 (as a
  shell reports a process stopped by SIGINT).

Every file gradedpr writes is replaced atomically, so what was complete before the failure still is; the
command says where (``intact``: a function returning that sentence, called only when needed).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from gradedpr.errors import GradedprError
from gradedpr.utils.oserrors import describe_os_error, is_environment_error

T = TypeVar("T")
QUIET_LOGGERS = {"faiss.loader": logging.WARNING}
"""Libraries' loggers kept above INFO: FAISS's loader logs every CPU-specific library it tries (and the
``ModuleNotFoundError`` of each one it does not find) at the start of every run."""


def quiet_library_loggers() -> None:
    """Raise the level of the :data:`QUIET_LOGGERS` (their warnings and errors still show)."""
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


INTERRUPTED = 130
ATOMIC = "files written before are intact (gradedpr replaces every file atomically)"


def run_cli(main: Callable[[], T], intact: Callable[[], str] | None = None) -> T:
    """Run ``main``; our own errors and environment errors exit with status 2 and one line, Ctrl-C with 130.
    ``intact`` says what is intact and how to go on (default: :data:`ATOMIC`). Library loggers that only add
    noise (:data:`QUIET_LOGGERS`) are quietened first."""
    quiet_library_loggers()
    try:
        return main()
    except GradedprError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"interrupted: {_intact(intact)}", file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None
    except OSError as exc:
        if not is_environment_error(exc):
            raise
        print(f"error: {describe_os_error(exc)}; {_intact(intact)}", file=sys.stderr)
        raise SystemExit(2) from None


def _intact(intact: Callable[[], str] | None) -> str:
    if intact is None:
        return ATOMIC
    try:
        return intact()
    except Exception:  # never let the message hide the failure
        return ATOMIC
