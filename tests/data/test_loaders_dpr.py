"""DPR retriever JSON: corpus from contexts, grades, negatives, validation and the streaming array reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradedpr.data import validation
from gradedpr.data.collection import load_collection
from gradedpr.data.dpr import context_id
from gradedpr.errors import DataError


def load_dpr(root: Path, cache_dir: Path, splits: tuple[str, ...] = ("train", "dev"), **kw: Any) -> Any:
    return load_collection("dpr", str(root), splits, cache_dir=str(cache_dir), **kw)


def test_dpr_collection(dpr_dir: Path, cache_dir: Path) -> None:
    collection = load_dpr(dpr_dir, cache_dir)
    france = context_id("France", "France is a country in Europe.")
    assert collection.corpus.ids == ["p1", "p2", "p3", france, "p4"]  # first appearance, deduplicated
    assert collection.corpus.text(0) == "Hamlet Hamlet is a tragedy by William Shakespeare."
    assert collection.queries == {
        "train-0": "who wrote hamlet",
        "train-1": "capital of france",
        "dev-q": "tragedy by shakespeare",
    }
    assert collection.qrels["train"] == {
        "train-0": {"p1": 1, "p2": 0, "p3": 0},
        "train-1": {"p3": 2, france: 1, "p4": 1},  # a graded hard negative keeps its grade
    }
    assert collection.qrels["dev"] == {"dev-q": {"p2": 1}}
    assert collection.negatives == {"train-0": ["p2", "p3"]}  # hard negatives first; graded ones excluded
    assert collection.split_queries("dev") == {"dev-q": "tragedy by shakespeare"}
    # Loaded again from the cache: identical.
    again = load_dpr(dpr_dir, cache_dir)
    assert again.corpus.fingerprint == collection.corpus.fingerprint
    assert (again.queries, again.qrels, again.negatives) == (
        collection.queries,
        collection.qrels,
        collection.negatives,
    )


def test_dpr_ids_and_explicit_files(dpr_dir: Path, cache_dir: Path) -> None:
    negative = {"title": "U", "text": "y", "psg_id": 6}
    record = {
        "qid": 42,
        "question": "q",
        "positive_ctxs": [{"title": "T", "text": "x", "psg_id": 5}],
        "hard_negative_ctxs": [negative, negative],
    }
    path = dpr_dir / "custom.json"
    path.write_text(json.dumps([record]), encoding="utf-8")
    collection = load_dpr(dpr_dir, cache_dir, ("test",), qrels_files={"test": str(path)})
    # the corpus: the contexts of every split file (train and dev of dpr_dir too), the given test file last
    assert list(collection.corpus.ids)[-2:] == ["5", "6"] and len(collection.corpus) > 2
    assert collection.qrels == {"test": {"42": {"5": 1, "6": 0}}}  # a repeated negative is kept once
    assert collection.negatives == {"42": ["6"]}
    with pytest.raises(DataError, match="corpus and questions from the split files"):
        load_dpr(dpr_dir, cache_dir, ("train",), corpus_file="x.jsonl")


def _write(root: Path, records: Any, name: str = "train.json") -> Path:
    path = root / name
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("question"), "item 2: missing field 'question'"),
        (lambda r: r.update(question="  "), "item 2: field 'question' is empty"),
        (lambda r: r.update(positive_ctxs={"a": 1}), "item 2: field 'positive_ctxs' must be a list"),
        (lambda r: r["positive_ctxs"].append("text"), r"item 2: positive_ctxs\[2\]: expected a JSON object"),
        (
            lambda r: r["positive_ctxs"].append({"title": "", "text": " "}),
            r"positive_ctxs\[2\]: context has an empty title and text",
        ),
        (
            lambda r: r["positive_ctxs"].append({"title": "Other", "text": "text", "passage_id": "p1"}),
            "document id 'p1' appears earlier with a different title or text",
        ),
        (
            lambda r: r["hard_negative_ctxs"].append(dict(r["positive_ctxs"][0], grade=None)),
            "listed again for this question with grade 0, earlier with grade 2",
        ),
        (lambda r: r["positive_ctxs"][0].update(grade=1.5), "field 'grade' must be an integer"),
        (lambda r: r["positive_ctxs"][0].update(grade="x"), "grade must be an integer"),
        (lambda r: r.update(id="train-0"), "duplicate question id 'train-0'"),
    ],
)
def test_dpr_errors(mutate: Any, message: str, dpr_dir: Path, cache_dir: Path, data_files: Any) -> None:
    records = json.loads(json.dumps(data_files.dpr_train))
    mutate(records[1])
    path = _write(dpr_dir, records)
    with pytest.raises(DataError, match=message) as err:
        load_dpr(dpr_dir, cache_dir)
    assert err.value.path == str(path)
    item_starts = [i + 1 for i, line in enumerate(json.dumps(records, indent=1).splitlines()) if line == " {"]
    assert err.value.line == item_starts[1]


def test_dpr_malformed_json(dpr_dir: Path, cache_dir: Path) -> None:
    (dpr_dir / "train.json").write_text('[\n {"question": "a"},\n {"question": "b",,}\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match="item 2: malformed JSON") as err:
        load_dpr(dpr_dir, cache_dir)
    assert err.value.line == 3
    (dpr_dir / "train.json").write_text('{"question": "a"}', encoding="utf-8")
    with pytest.raises(DataError, match="JSON array"):
        load_dpr(dpr_dir, cache_dir)
    (dpr_dir / "train.json").write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match="no questions"):
        load_dpr(dpr_dir, cache_dir)
    (dpr_dir / "dev.jsonl").write_text('{"question": "a"}\n[1]\n', encoding="utf-8")
    (dpr_dir / "train.json").unlink()
    with pytest.raises(DataError, match="expected a JSON object") as err:
        load_dpr(dpr_dir, cache_dir, ("dev",))
    assert err.value.line == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{}", "unexpected end of file"),
        ("[{},]", "trailing comma"),
        ("[{} {}]", "expected ',' or ']'"),
        ("[,{}]", "unexpected ','"),
        ("[{}] x", "extra data"),
        ("[{}, 3]", "item 2: expected a JSON object"),
    ],
)
def test_json_array_syntax_errors(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        list(validation.iter_json_array(path))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.dictionaries(st.text(max_size=5), _json_values, max_size=4), max_size=6),
    indent=st.sampled_from([None, 0, 2]),
    chunk=st.integers(min_value=1, max_value=16),
)
def test_streaming_array_reader_matches_json_load(
    items: list[dict[str, Any]], indent: int | None, chunk: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Decoding item by item through tiny read chunks gives json.load's items and each item's start line."""
    path = tmp_path_factory.mktemp("arr") / "a.json"
    text = json.dumps(items, indent=indent)
    path.write_text(text, encoding="utf-8")
    original = validation._JSON_CHUNK
    validation._JSON_CHUNK = chunk
    try:
        decoded = list(validation.iter_json_array(path))
    finally:
        validation._JSON_CHUNK = original
    assert [record for _, _, record in decoded] == items
    assert [number for number, _, _ in decoded] == list(range(1, len(items) + 1))
    if indent:  # items start at lines beginning with exactly `indent` spaces and "{"
        starts = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith(" " * indent + "{")]
        assert [line for _, line, _ in decoded] == starts
