"""TREC run / qrels files: round trip in trec_eval order, every bad input named by line, atomic writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradedpr.errors import DataError
from gradedpr.evaluation import (
    DEFAULT_MEASURES,
    evaluate_run,
    ranking_order,
    read_trec_qrels,
    read_trec_run,
    write_trec_run,
)

IDS = st.text(alphabet="abcdXYZ0129_-.é€", min_size=1, max_size=6)
SCORES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e30, max_value=1e30),
    st.sampled_from([0.9, 0.900000001, 0.0, -0.0, 1e-45, 3.4e38]),
)
RUNS = st.dictionaries(IDS, st.dictionaries(IDS, SCORES, min_size=1, max_size=12), min_size=1, max_size=4)


def _f32(x: float) -> float:
    return float(np.float32(x) + np.float32(0))


@settings(max_examples=60, deadline=None)
@given(RUNS)
def test_round_trip_keeps_float32_scores_and_trec_eval_order(tmp_path_factory: Any, run: Any) -> None:
    path = tmp_path_factory.mktemp("run") / "run.trec"
    write_trec_run(path, run, tag="t1")
    back = read_trec_run(path)
    assert list(back) == list(run)
    for qid, docs in run.items():
        # %.9g identifies a float32 uniquely: the value read back rounds to exactly the original's float32
        assert {doc: _f32(score) for doc, score in back[qid].items()} == {
            doc: _f32(score) for doc, score in docs.items()
        }
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    for qid, docs in run.items():
        mine = [cols for cols in lines if cols[0] == qid]
        assert [cols[2] for cols in mine] == [doc for doc, _ in ranking_order(docs)]
        assert [int(cols[3]) for cols in mine] == list(range(1, len(docs) + 1))
        assert all(cols[1] == "Q0" and cols[5] == "t1" for cols in mine)
        scores = [float(cols[4]) for cols in mine]
        assert scores == sorted(scores, reverse=True)
    # evaluation cannot tell the file from the in-memory run (trec_eval compares float32 anyway)
    qrels = {qid: {doc: (i % 3) for i, doc in enumerate(docs)} for qid, docs in run.items()}
    assert evaluate_run(back, qrels, DEFAULT_MEASURES).per_query == evaluate_run(run, qrels).per_query


def test_write_orders_ties_by_descending_docid_and_cuts_at_k(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    write_trec_run(path, {"q": {"d1": 1.0, "d10": 1.0, "d2": 0.900000001, "d3": 0.9, "d4": 2.0}}, k=4)
    assert path.read_text(encoding="utf-8").splitlines() == [
        "q Q0 d4 1 2 gradedpr",
        "q Q0 d10 2 1 gradedpr",
        "q Q0 d1 3 1 gradedpr",
        "q Q0 d3 4 0.899999976 gradedpr",  # float32 tie with d2: the greater id goes first
    ]


@pytest.mark.parametrize(
    ("run", "tag", "k"),
    [
        ({"q": {"a b": 1.0}}, "t", None),
        ({"q q": {"a": 1.0}}, "t", None),
        ({"q": {"": 1.0}}, "t", None),
        ({"q": {"a": 1.0}}, "my tag", None),
        ({"q": {"a": float("nan")}}, "t", None),
        ({"q": {"a": 1.0}}, "t", 0),
    ],
)
def test_write_rejects_what_a_trec_file_cannot_hold(tmp_path: Path, run: Any, tag: str, k: Any) -> None:
    with pytest.raises(ValueError):
        write_trec_run(tmp_path / "run.trec", run, tag=tag, k=k)
    assert not (tmp_path / "run.trec").exists()


def test_failure_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    write_trec_run(path, {"q1": {"a": 1.0}})
    old = path.read_bytes()
    # q1 and q2 are written before q3's bad document id stops the writer.
    bad = {"q1": {"a": 2.0}, "q2": {f"d{i}": float(i) for i in range(5000)}, "q3": {"bad id": 1.0}}
    with pytest.raises(ValueError):
        write_trec_run(path, bad)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.trec"]  # no temporary file left behind


def test_failure_in_the_middle_of_writing_a_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception raised by the file system while writing leaves the old file too."""
    path = tmp_path / "run.trec"
    write_trec_run(path, {"q1": {"a": 1.0}})
    old = path.read_bytes()
    import gradedpr.data.runs as runfile

    calls = {"n": 0}

    def failing_ranking(docs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return ranking_order(docs)

    monkeypatch.setattr(runfile, "ranking_order", failing_ranking)
    with pytest.raises(OSError, match="disk full"):
        write_trec_run(path, {"q1": {"a": 3.0}, "q2": {"b": 1.0}})
    assert path.read_bytes() == old


def _write(tmp_path: Path, text: str | bytes, name: str = "f.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


GOOD_RUN = "q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 0.25 t\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD_RUN + "q1 Q0 d3 3 0.1\n", 3, "expected 6 columns"),
        (GOOD_RUN + "q1 Q0 d3 3 0.1 t extra\n", 3, "expected 6 columns"),
        ("q1 d3 0.1\n", 1, "expected 6 columns"),
        (GOOD_RUN + "q1 Q0 d3 3 high t\n", 3, "not a number"),
        (GOOD_RUN + "q1 Q0 d3 3 1_0 t\n", 3, "not a number"),
        (GOOD_RUN + "q1 Q0 d3 3 0,5 t\n", 3, "not a number"),
        (GOOD_RUN + "q1 Q0 d3 3 nan t\n", 3, "NaN"),
        (GOOD_RUN + "q2 Q0 d1 1 0.5 t\nq1 Q0 d1 3 0.1 t\n", 4, "duplicate document 'd1'"),
        (GOOD_RUN + "\n\nq1 Q0 d9 3 x t\n", 5, "not a number"),  # blank lines are skipped but counted
    ],
)
def test_bad_run_lines_are_named(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=message) as caught:
        read_trec_run(path)
    assert caught.value.line == line
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_bad_utf8_empty_and_missing_run_files(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_RUN.encode() + b"q1 Q0 d\xff 3 0.1 t\n")
    with pytest.raises(DataError, match="UTF-8") as caught:
        read_trec_run(path)
    assert caught.value.line == 3
    with pytest.raises(DataError, match="no results"):
        read_trec_run(_write(tmp_path, "\n  \n", "empty.txt"))
    with pytest.raises(DataError, match="cannot open"):
        read_trec_run(tmp_path / "missing.txt")


def test_run_reader_accepts_any_rank_column_and_infinite_scores(tmp_path: Path) -> None:
    path = _write(tmp_path, "q1 Q0 d1 x -inf t\nq1 Q0 d2 1.5 1e3 t\r\n\tq2  Q0 d1 0 +2 t\n")
    assert read_trec_run(path) == {"q1": {"d1": float("-inf"), "d2": 1000.0}, "q2": {"d1": 2.0}}


GOOD_QRELS = "q1 0 d1 2\nq1 0 d2 0\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD_QRELS + "q1 0 d3\n", 3, "expected 4 whitespace-separated columns"),
        (GOOD_QRELS + "q1 0 d3 1 extra\n", 3, "expected 4 whitespace-separated columns"),
        (GOOD_QRELS + "q1 0 d3 1.5\n", 3, "must be an integer"),
        (GOOD_QRELS + "q1 0 d3 high\n", 3, "must be an integer"),
        (GOOD_QRELS + "q1 0 d3 1_0\n", 3, "must be an integer"),
        (GOOD_QRELS + "q2 0 d1 1\nq1 1 d2 1\n", 4, "duplicate judgment for query 'q1' and document 'd2'"),
    ],
)
def test_bad_qrels_lines_are_named(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=message) as caught:
        read_trec_qrels(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_qrels_reader(tmp_path: Path) -> None:
    path = _write(tmp_path, "q1 0 d1 2\nq1 0 d2 -1\n\nq2 Q0 d1 +0\n")
    assert read_trec_qrels(path) == {"q1": {"d1": 2, "d2": -1}, "q2": {"d1": 0}}
    with pytest.raises(DataError, match="no relevance judgments"):
        read_trec_qrels(_write(tmp_path, "", "empty.txt"))
    with pytest.raises(DataError, match="UTF-8") as caught:
        read_trec_qrels(_write(tmp_path, b"q1 0 d1 1\n\xfe 0 d1 1\n", "bad.txt"))
    assert caught.value.line == 2


@pytest.mark.parametrize(
    "score",
    ["\u0660\u066b\u0665",  # Arabic-Indic digits: float() reads 0.5
     "\u0661",  # Arabic-Indic one
     "\uff11.5",  # full-width one
     "\u09e7"],  # Bengali one
)
def test_run_scores_in_non_ascii_digits_are_refused(tmp_path: Path, score: str) -> None:
    path = _write(tmp_path, GOOD_RUN + f"q1 Q0 d3 3 {score} t\n")
    with pytest.raises(DataError, match="ASCII digits") as caught:
        read_trec_run(path)
    assert caught.value.line == 3


def test_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    run = _write(tmp_path, b"\xef\xbb\xbf" + GOOD_RUN.encode(), "run.trec")
    assert read_trec_run(run) == {"q1": {"d1": 0.5, "d2": 0.25}}
    qrels = _write(tmp_path, b"\xef\xbb\xbf" + GOOD_QRELS.encode(), "qrels.txt")
    assert read_trec_qrels(qrels) == {"q1": {"d1": 2, "d2": 0}}
    # only at the start of the file: elsewhere it stays part of a column
    later = _write(tmp_path, GOOD_RUN + "\ufeffq1 Q0 d3 3 0.1 t\n", "later.trec")
    assert "\ufeffq1" in read_trec_run(later)


def test_run_documents_can_be_checked_against_a_corpus(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_RUN + "q2 Q0 d9 1 0.1 t\n")
    assert read_trec_run(path, doc_ids={"d1", "d2", "d9"})["q2"] == {"d9": 0.1}
    with pytest.raises(DataError, match="document 'd9' \\(query 'q2'\\) is not in the corpus") as caught:
        read_trec_run(path, doc_ids={"d1", "d2"})
    assert str(caught.value).startswith(f"{path}:3: ")
