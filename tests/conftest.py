"""Shared pytest fixtures: a tiny random-init BERT that loads like any HF model directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from slow_marker import mark_slow_tests
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_slow_tests(items)
