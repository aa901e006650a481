"""The ``slow`` marker that ``make test-fast`` (``pytest -m "not slow"``) leaves out.

Set by :func:`mark_slow_tests` (tests/conftest.py) on every test that starts another process: itself, through a
function of the test suite it calls, or through a fixture; new script tests are slow without anyone marking
them. A test that is slow in-process can carry ``@pytest.mark.slow`` by hand (none needs it today: the
in-process training tests take 1-2 s each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

STARTS_A_PROCESS = frozenset(
    {"subprocess", "Popen", "fork", "run_script", "run_forked", "run_ranks", "multiprocessing"}
)
"""Names whose use means a test starts another process (a script run, a fork, spawned ranks)."""

TESTS = Path(__file__).resolve().parent


def _code_names(code: Any) -> set[str]:
    names = set(code.co_names) | set(code.co_varnames)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _code_names(const)
    return names


def starts_a_process(fn: Any, seen: set[int] | None = None) -> bool:
    """Whether ``fn`` or a function of the test suite it names (recursively) starts another process."""
    seen = set() if seen is None else seen
    fn = getattr(fn, "__wrapped__", fn)
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen or not code.co_filename.startswith(str(TESTS)):
        return False
    seen.add(id(code))
    names = _code_names(code)
    if names & STARTS_A_PROCESS:
        return True
    module_globals = getattr(fn, "__globals__", {})
    return any(starts_a_process(module_globals.get(name), seen) for name in names)


def mark_slow_tests(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every collected test that starts another process, directly or through its fixtures."""
    for item in items:
        if item.get_closest_marker("slow") is not None or not isinstance(item, pytest.Function):
            continue
        seen: set[int] = set()
        fixtures = [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
        if any(starts_a_process(fn, seen) for fn in [item.function, *fixtures]):
            item.add_marker(pytest.mark.slow)
