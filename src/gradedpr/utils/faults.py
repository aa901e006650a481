"""Crash points for the reliability tests: ``GRADEDPR_CRASH_AT=<name>[@<n>]`` SIGKILLs the process the n-th
time (default: the first) execution passes ``crash_point(<name>)``.

A no-op costing one environment lookup when the variable is unset, which it always is outside the tests.
SIGKILL, not an exception: nothing is cleaned up, exactly as when the machine or the OOM killer stops a run.
"""

from __future__ import annotations

import os
import signal

ENV = "GRADEDPR_CRASH_AT"
_passed: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Kill this process here if ``GRADEDPR_CRASH_AT`` names this point (and this is its n-th passage)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, count = wanted.partition("@")
    if point != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == (int(count) if count else 1):
        os.kill(os.getpid(), signal.SIGKILL)
