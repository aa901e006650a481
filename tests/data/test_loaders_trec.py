"""TREC qrels (``qid iter docid grade``) and TSV queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gradedpr.data.collection import load_collection
from gradedpr.errors import DataError


def make_trec(make_beir: Any, queries_tsv: str | None = None) -> Path:
    root = make_beir("trec", qrels={"train": None, "dev": None, "test": None})
    (root / "qrels" / "train.txt").write_text("q1 0 d1 2\nq1 Q0 d3 1\nq2\t0\td2\t0\n", encoding="utf-8")
    (root / "qrels" / "test.qrels").write_text("q4 0 d5 -2\n", encoding="utf-8")
    if queries_tsv is not None:
        (root / "queries.jsonl").unlink()
        (root / "queries.tsv").write_text(queries_tsv, encoding="utf-8")
    return root


def test_trec_qrels_and_suffixes(make_beir: Any, cache_dir: Path) -> None:
    root = make_trec(make_beir)
    collection = load_collection("trec", str(root), ["train", "test"], cache_dir=str(cache_dir))
    assert collection.qrels == {
        "train": {"q1": {"d1": 2, "d3": 1}, "q2": {"d2": 0}},
        "test": {"q4": {"d5": -2}},
    }
    with pytest.raises(DataError, match="dev split"):
        load_collection("trec", str(root), ["dev"], cache_dir=str(cache_dir))


def test_queries_tsv_with_and_without_header(make_beir: Any, cache_dir: Path) -> None:
    text = "q1\tred fruit\nq2\tyellow fruit\nq3\tpalm\nq4\tpurple\n"
    for body in (text, "qid\ttext\n" + text):
        root = make_trec(make_beir, queries_tsv=body)
        collection = load_collection("trec", str(root), ["train"], cache_dir=str(cache_dir))
        assert collection.queries["q2"] == "yellow fruit" and len(collection.queries) == 4


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("q1 0 d4", "expected 4 whitespace-separated columns"),
        ("q1 0 d4 1 x", "expected 4 whitespace-separated columns"),
        ("q1 0 d4 high", "grade must be an integer"),
        ("q1 0 d1 1", "duplicate judgment"),
        ("q1 0 nope 1", "not in the corpus"),
    ],
)
def test_trec_qrels_errors(line: str, message: str, make_beir: Any, cache_dir: Path) -> None:
    root = make_trec(make_beir)
    path = root / "qrels" / "train.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        load_collection("trec", str(root), ["train"], cache_dir=str(cache_dir))
    assert (err.value.path, err.value.line) == (str(path), 5)  # line 4 is blank


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("q9", "expected 2 tab-separated columns"),
        ("q9\ta\tb", "expected 2"),
        ("q1\tagain", "duplicate query id"),
    ],
)
def test_queries_tsv_errors(line: str, message: str, make_beir: Any, cache_dir: Path) -> None:
    root = make_trec(make_beir, queries_tsv="q1\tred\nq2\tyellow\n" + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        load_collection("trec", str(root), ["train"], cache_dir=str(cache_dir))
    assert err.value.line == 3
