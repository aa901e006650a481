"""IdList (arrow-backed ids) against a plain list, the id file reader, and the Corpus built on it."""

from __future__ import annotations

import operator
import pickle
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradedpr.data.corpus import COLUMNS, Corpus
from gradedpr.data.ids import IdList, take_ids
from gradedpr.errors import DataError

IDS = ["d1", "d2", "é3", "", "d 5", "d6", "d7"]


@pytest.fixture(params=["one chunk", "chunks of 3", "from strings"])
def ids(request: pytest.FixtureRequest) -> IdList:
    if request.param == "one chunk":
        return IdList(pa.array(IDS))
    if request.param == "chunks of 3":
        return IdList(pa.chunked_array([pa.array(IDS[i : i + 3]) for i in range(0, len(IDS), 3)]))
    return IdList.from_strings(iter(IDS), block_size=2)


def test_indexing_matches_a_list(ids: IdList) -> None:
    assert len(ids) == len(IDS)
    assert [ids[i] for i in range(-len(IDS), len(IDS))] == [IDS[i] for i in range(-len(IDS), len(IDS))]
    assert ids[np.int64(2)] == "é3"
    for bad in (len(IDS), -len(IDS) - 1, 100):
        with pytest.raises(IndexError, match="out of range"):
            ids[bad]
    with pytest.raises(TypeError):
        ids["d1"]  # type: ignore[call-overload]


def test_slicing_is_an_idlist_and_zero_copy(ids: IdList) -> None:
    for key in (slice(1, 5), slice(None, -2), slice(-3, None), slice(5, 2), slice(None, None, 2),
                slice(None, None, -1), slice(6, 0, -3), slice(100, 200)):
        part = ids[key]
        assert isinstance(part, IdList)
        assert part == IDS[key] and list(part) == IDS[key] and len(part) == len(IDS[key])
    column = IdList(pa.array(IDS))
    assert column[2:5].arrow.chunks[0].buffers()[2].address == column.arrow.chunks[0].buffers()[2].address


def test_iteration_take_membership_and_index(ids: IdList) -> None:
    assert list(ids) == IDS and list(reversed(ids)) == IDS[::-1]
    assert [block for block in ids.iter_blocks(3)] == [IDS[0:3], IDS[3:6], IDS[6:]]
    assert ids.to_pylist() == IDS
    rows = np.array([6, 0, 0, 3, 2])
    assert ids.take(rows) == [IDS[r] for r in rows] == take_ids(IDS, rows) == take_ids(ids, rows.tolist())
    assert ids.take(np.array([], dtype=np.int64)) == []
    for bad in ([0, 7], [-1]):
        with pytest.raises(IndexError, match="out of range"):
            ids.take(bad)
    assert "d6" in ids and "" in ids and "d8" not in ids and 5 not in ids
    assert ids.index("d6") == 5 and ids.index("d1", 0, 3) == 0 and ids.count("d7") == 1
    with pytest.raises(ValueError, match="not in the ids"):
        ids.index("d1", 1)


def test_equality_with_sequences(ids: IdList) -> None:
    assert ids == IDS and operator.eq(IDS, ids) and ids == tuple(IDS) and ids == IdList(pa.array(IDS))
    assert ids != IDS[:-1] and ids != [*IDS[:-1], "other"] and ids != IdList.from_strings(IDS[::-1])
    assert ids != "d1d2" and ids != 3 and ids != set(IDS)
    with pytest.raises(TypeError, match="unhashable"):
        hash(ids)


def test_repr_pickle_and_concat(ids: IdList) -> None:
    assert repr(IdList.from_strings(["a", "b"])) == "IdList(2 ids: ['a', 'b'])"
    assert repr(IdList.from_strings(f"p{i}" for i in range(100))) == (
        "IdList(100 ids: ['p0', 'p1', 'p2', 'p3', 'p4', ..., 'p99'])"
    )
    copy = pickle.loads(pickle.dumps(ids))
    assert isinstance(copy, IdList) and copy == IDS
    assert pickle.loads(pickle.dumps(ids[2:4])) == IDS[2:4]
    joined = IdList.concat([ids[:2], ids[2:], IdList.from_strings([])])
    assert joined == IDS and IdList.concat([]) == []


def test_other_column_types_are_cast_and_nulls_refused() -> None:
    assert IdList(pa.array([7, 8])) == ["7", "8"]
    assert IdList(pa.array(["a", "b"], type=pa.large_string())) == ["a", "b"]
    with pytest.raises(ValueError, match="row 1 is missing"):
        IdList(pa.array(["a", None]))
    with pytest.raises(TypeError):
        IdList.from_strings([1, 2])  # type: ignore[list-item]


def test_first_duplicate_names_the_first_repeated_id() -> None:
    assert IdList.from_strings(IDS).first_duplicate() is None
    assert IdList.from_strings([]).first_duplicate() is None
    assert IdList.from_strings(["z", "b", "a", "b", "z"]).first_duplicate() == "z"
    assert IdList.from_strings(["c", "b", "a", "a", "b"]).first_duplicate() == "b"


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.text(max_size=6), max_size=40),
    chunk=st.integers(1, 8),
    start=st.none() | st.integers(-50, 50),
    stop=st.none() | st.integers(-50, 50),
    step=st.none() | st.integers(-5, 5).filter(lambda s: s != 0),
)
def test_slices_match_list_slices(values: list[str], chunk: int, start: int | None, stop: int | None,
                                  step: int | None) -> None:
    ids = IdList.from_strings(values, block_size=chunk)
    key = slice(start, stop, step)
    assert ids[key] == values[key]
    assert ids[key].to_pylist() == values[key]
    assert ids == values and list(ids) == values
    if values:
        position = (start or 0) % len(values)
        assert ids[position] == values[position] and ids[position - len(values)] == values[position]


def test_read_lines_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    values = [f"id-{i}" for i in range(25)] + ["ü", "a b"]
    path.write_text("\n".join(values) + "\n", encoding="utf-8")
    ids = IdList.read_lines(path, block_bytes=16)
    assert ids == values and ids.arrow.num_chunks > 5 and max(len(c) for c in ids.arrow.chunks) <= 3
    assert IdList.read_lines(path) == values and IdList.read_lines(path).arrow.num_chunks == 1
    path.write_text("", encoding="utf-8")
    assert len(IdList.read_lines(path)) == 0
    path.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(UnicodeDecodeError):
        IdList.read_lines(path)
    with pytest.raises(OSError):
        IdList.read_lines(tmp_path / "missing.txt")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(["a", "é", "€", " ", "\n", "\r", "\t"]), max_size=40),
       block=st.integers(1, 12))
def test_read_lines_splits_like_a_python_text_file(tmp_path_factory: pytest.TempPathFactory, text: str,
                                                   block: int) -> None:
    path = tmp_path_factory.mktemp("lines") / "ids.txt"
    path.write_bytes(text.encode("utf-8"))  # CRLF, lone CR, no final newline, UTF-8 split across blocks
    with open(path, encoding="utf-8") as handle:
        expected = [line.rstrip("\n") for line in handle]
    assert IdList.read_lines(path, block_bytes=block) == expected


# ---------------------------------------------------------------------- Corpus


def test_corpus_ids_are_an_idlist_and_rows_are_lazy() -> None:
    corpus = Corpus.from_lists(["a", "b", "c"], ["", "", ""], ["x", "y", "z"])
    assert isinstance(corpus.ids, IdList) and corpus.ids == ["a", "b", "c"]
    assert corpus._rows is None  # nothing per passage in Python until a lookup needs it
    assert corpus.row("c") == 2 and "b" in corpus and "d" not in corpus and 3 not in corpus
    assert corpus._rows == {"a": 0, "b": 1, "c": 2}
    with pytest.raises(KeyError, match=r"document id 'zz' is not in the corpus \(3 passages\)"):
        corpus.row("zz")


def test_corpus_duplicate_and_missing_ids_are_data_errors() -> None:
    with pytest.raises(DataError, match="duplicate document id 'b'"):
        Corpus.from_lists(["b", "a", "c", "a", "b"], [""] * 5, ["x"] * 5)
    features = datasets.Features({column: datasets.Value("string") for column in COLUMNS})
    broken = datasets.Dataset.from_dict({"_id": ["a", None], "title": ["", ""], "text": ["x", "y"]},
                                        features=features)
    with pytest.raises(DataError, match="missing document id"):
        Corpus(broken)


def test_corpus_ids_follow_a_selected_view() -> None:
    corpus = Corpus.from_lists(["a", "b", "c", "d"], ["", "", "", ""], ["w", "x", "y", "z"])
    view = Corpus(corpus.dataset.select([3, 1]))
    assert view.ids == ["d", "b"] and view.texts([0, 1]) == ["z", "x"] and view.row("b") == 1
