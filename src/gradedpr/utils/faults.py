"""Crash points for the reliability tests: ``GRADEDPR_CRASH_AT=<name>[@<n>][:<signal>]`` sends the process
``<signal>`` (default ``KILL``; ``INT`` is a Ctrl-C) the n-th time (default: the first) execution passes
``crash_point(<name>)``.

A no-op costing one environment lookup when the variable is unset, which it always is outside the tests.
SIGKILL, not an exception: nothing is cleaned up, exactly as when the machine or the OOM killer stops a run.
SIGINT raises ``KeyboardInterrupt`` at once in the main thread, exactly as Ctrl-C at that instant would.
Named points make the crash tests deterministic: the process stops at the same place on any machine load.
"""

from __future__ import annotations

import os
import signal

ENV = "GRADEDPR_CRASH_AT"
_passed: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Signal this process here if ``GRADEDPR_CRASH_AT`` names this point (and this is its n-th passage)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    where, _, signal_name = wanted.partition(":")
    point, _, count = where.partition("@")
    if point != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == (int(count) if count else 1):
        os.kill(os.getpid(), getattr(signal, f"SIG{signal_name or 'KILL'}"))
