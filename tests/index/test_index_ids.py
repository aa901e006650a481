"""The id map on disk (write_ids / read_ids) and the mapping of search rows to ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

import gradedpr.index.dense as dense_index_module
from gradedpr.data.ids import IdList
from gradedpr.encode.store import read_ids, write_ids
from gradedpr.errors import CheckpointError, DataError
from gradedpr.index.dense import DenseIndex


@pytest.mark.parametrize("kind", [list, IdList.from_strings])
def test_id_map_round_trip(tmp_path: Path, kind: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gradedpr.encode.store.BLOCK", 3)  # several blocks on both sides
    values = [f"doc-{i}" for i in range(10)] + ["ü ö", "x\ty"]
    write_ids(tmp_path / "ids.txt", kind(values))
    assert (tmp_path / "ids.txt").read_text(encoding="utf-8") == "".join(v + "\n" for v in values)
    loaded = read_ids(tmp_path / "ids.txt")
    assert isinstance(loaded, IdList) and loaded == values


@pytest.mark.parametrize("bad", ["", "a\nb", "a\rb"])
def test_ids_that_cannot_live_on_one_line_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(DataError, match="empty or spans lines"):
        write_ids(tmp_path / "ids.txt", IdList.from_strings(["ok", bad]))
    assert not (tmp_path / "ids.txt").exists()


def test_missing_id_map_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="cannot read the id map"):
        read_ids(tmp_path / "ids.txt")


@pytest.mark.parametrize("kind", [list, IdList.from_strings])
def test_search_maps_rows_to_ids_and_drops_missing(kind: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    index = faiss.IndexFlatIP(4)
    index.add(np.eye(4, dtype=np.float32))
    dense = DenseIndex(index, kind(["a", "b", "c", "d"]), {})
    rows = np.array([[2, 0, -1], [-1, -1, -1], [3, 3, 1]], dtype=np.int64)
    scores = np.zeros(rows.shape, dtype=np.float32)
    monkeypatch.setattr(dense_index_module, "search", lambda *args, **kwargs: (scores, rows))
    _, docids = dense.search(np.zeros((3, 4), dtype=np.float32), 3)
    assert docids == [["c", "a"], [], ["d", "d", "b"]]
    monkeypatch.undo()
    _, found = dense.search(np.eye(4, dtype=np.float32)[[1, 3]], 1)
    assert found == [["b"], ["d"]]
    _, none = dense.search(np.zeros((0, 4), dtype=np.float32), 2)
    assert none == []
