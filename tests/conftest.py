"""Shared pytest fixtures: a tiny random-init BERT that loads like any HF model directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tiny_model import make_tiny_model_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One OpenMP thread, set before torch / faiss start their runtimes: the tests share 2 cores, and several of
# them fork the test process (scripts run as __main__ in a child), which deadlocks in a forked OpenMP pool.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide HF directory holding a tiny random BERT (2 layers, hidden 32) + the MiniLM tokenizer."""
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path) -> Any:
    """The tiny random BERT as a BiEncoder (separate query / passage encoders with equal weights)."""
    from gradedpr.model.biencoder import BiEncoder

    return BiEncoder.from_pretrained(tiny_model_dir).eval()


# ---------------------------------------------------------------- the `slow` marker (make test-fast skips it)

_STARTS_A_PROCESS = frozenset(
    {"subprocess", "Popen", "fork", "run_script", "run_forked", "run_ranks", "multiprocessing"}
)
"""Names whose use means a test starts another process (a script run, a fork, spawned ranks)."""


def _code_names(code: Any) -> set[str]:
    names = set(code.co_names) | set(code.co_varnames)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _code_names(const)
    return names


def _starts_a_process(fn: Any, seen: set[int]) -> bool:
    """Whether ``fn`` or a test-suite function, class or fixture it names starts another process."""
    fn = getattr(fn, "__wrapped__", fn)
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen or not code.co_filename.startswith(str(_TESTS)):
        return False
    seen.add(id(code))
    names = _code_names(code)
    if names & _STARTS_A_PROCESS:
        return True
    module_globals = getattr(fn, "__globals__", {})
    return any(_starts_a_process(module_globals.get(name), seen) for name in names)


_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that starts another process itself, through a helper of the test suite or
    through a fixture; tests that train in-process for long carry ``@pytest.mark.slow`` by hand."""
    for item in items:
        if item.get_closest_marker("slow") is not None or not isinstance(item, pytest.Function):
            continue
        seen: set[int] = set()
        fixtures = [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
        if any(_starts_a_process(fn, seen) for fn in [item.function, *fixtures]):
            item.add_marker(pytest.mark.slow)
