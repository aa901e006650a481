"""release_mapped_pages: read-only file mappings lose their resident pages but not their data; writable
mappings are left alone."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from gradedpr.data.corpus import Corpus
from gradedpr.utils.mapped import release_mapped_pages

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise on /proc/self/maps")


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    return path


@linux_only
def test_read_only_mapping_is_released_and_stays_readable(data_file: Path) -> None:
    mapped = pa.memory_map(str(data_file))  # read-only, like the arrow file behind a Corpus
    buffer = mapped.read_buffer()
    assert sum(buffer.to_pybytes()[::4096]) == 0  # touch every page
    assert release_mapped_pages([data_file]) >= data_file.stat().st_size
    assert buffer.to_pybytes() == data_file.read_bytes()
    del buffer
    mapped.close()
    assert release_mapped_pages([data_file]) == 0  # no mapping left


@linux_only
def test_writable_mapping_is_not_touched(data_file: Path) -> None:
    with open(data_file, "r+b") as handle:
        view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)  # private and writable
        view[:4] = b"edit"
        assert release_mapped_pages([data_file]) == 0
        assert view[:4] == b"edit"
        view.close()


def test_nothing_to_release(tmp_path: Path) -> None:
    assert release_mapped_pages([]) == 0
    assert release_mapped_pages([tmp_path / "not-mapped"]) == 0
    corpus = Corpus.from_lists(["a"], [""], ["x"])  # in memory: no file to release
    corpus.release_pages()
    assert corpus.texts([0]) == ["x"]
