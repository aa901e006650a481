"""The automatic ``slow`` marker: a test that starts another process, however indirectly, is slow."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from slow_marker import starts_a_process


def _runs_python() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def _calls_a_helper_that_runs_python() -> None:
    _runs_python()


def _forks() -> None:
    if os.fork() == 0:
        os._exit(0)


def _imports_subprocess_locally() -> None:
    import subprocess as sp

    sp.run(["true"], check=False)


def _pure(values: list[int]) -> int:
    return sum(v * v for v in values)


def _calls_pure() -> int:
    return _pure([1, 2]) + len(os.sep)


def test_direct_and_indirect_process_starts_are_found(request: pytest.FixtureRequest) -> None:
    # looked up by name, so that this test itself does not name them (it would be marked slow)
    for name in ("_runs_python", "_calls_a_helper_that_runs_python", "_forks", "_imports_subprocess_locally"):
        assert starts_a_process(globals()[name]), name
    assert request.node.get_closest_marker("slow") is None


def test_in_process_code_is_not_slow() -> None:
    assert not starts_a_process(_pure)
    assert not starts_a_process(_calls_pure)
    assert not starts_a_process(len)  # no Python code
    assert not starts_a_process(pytest.approx)  # a library's code is not followed


def test_script_tests_are_marked_and_this_one_is_not(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("slow") is None
    import test_end_to_end

    assert starts_a_process(test_end_to_end.test_train_index_evaluate)
