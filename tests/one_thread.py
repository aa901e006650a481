"""One torch / FAISS thread per test module (imported by the encode and index conftests)."""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    """One thread for torch and FAISS: on a shared 2-core machine two OpenMP threads competing with other
    processes spin and run many times slower than one."""
    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    yield
    torch.set_num_threads(torch_threads)
    faiss.omp_set_num_threads(faiss_threads)
