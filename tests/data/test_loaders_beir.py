"""BEIR collections: what load_collection returns, the Corpus API, validation errors and the arrow cache."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from gradedpr.data.collection import Collection, Corpus, load_collection
from gradedpr.errors import DataError


def load(root: Path, cache_dir: Path, **kwargs: Any) -> Collection:
    return load_collection("beir", str(root), cache_dir=str(cache_dir), **kwargs)


def test_loads_corpus_queries_and_graded_qrels(make_beir: Any, cache_dir: Path, data_files: Any) -> None:
    collection = load(make_beir(), cache_dir)
    assert collection.name == "beir"
    assert collection.corpus.ids == ["d1", "d2", "d3", "d4", "d5"]
    assert collection.queries == {q["_id"]: q["text"] for q in data_files.queries}
    assert collection.qrels["train"] == {"q1": {"d1": 2, "d3": 1, "d2": 0}, "q2": {"d2": 2}}
    assert collection.qrels["dev"] == {"q3": {"d4": 1, "d1": -1}}  # judged 0 and negative grades are kept
    assert collection.qrels["test"] == {"q4": {"d5": 2}}
    assert collection.negatives == {}
    assert collection.split_queries("train") == {"q1": "red fruit", "q2": "yellow fruit"}
    assert collection.counts() == {
        "documents": 5,
        "queries": 4,
        "train_queries": 2,
        "train_qrels": 4,
        "dev_queries": 1,
        "dev_qrels": 2,
        "test_queries": 1,
        "test_qrels": 1,
    }
    with pytest.raises(KeyError, match="not loaded"):
        collection.split_queries("validation")


def test_corpus_api(make_beir: Any, cache_dir: Path) -> None:
    corpus = load(make_beir(), cache_dir).corpus
    assert len(corpus) == 5
    assert "d3" in corpus and "zz" not in corpus
    assert corpus.row("d3") == 2
    with pytest.raises(KeyError, match="'zz' is not in the corpus"):
        corpus.row("zz")
    assert corpus.text(0) == "Apples Apples are red or green fruit."
    assert corpus.text(1) == "Bananas are yellow."  # empty title adds nothing
    assert corpus.text(4) == "Elderberries are dark purple."  # missing title
    assert corpus.texts([2, 0, 2]) == [corpus.text(2), corpus.text(0), corpus.text(2)]
    assert corpus.texts([]) == []
    with pytest.raises(IndexError):
        corpus.text(5)
    batches = list(corpus.iter_batches(2))
    assert [rows for rows, _ in batches] == [[0, 1], [2, 3], [4]]
    assert [t for _, texts in batches for t in texts] == [corpus.text(r) for r in range(5)]
    assert list(corpus.dataset.column_names) == ["_id", "title", "text"]
    assert corpus.dataset.cache_files  # backed by an arrow file, not an in-memory table


def test_corpus_pickles_by_reference(make_beir: Any, cache_dir: Path) -> None:
    corpus = load(make_beir(), cache_dir).corpus
    copy = pickle.loads(pickle.dumps(corpus))
    assert copy.ids == corpus.ids and copy.fingerprint == corpus.fingerprint
    assert copy.texts(range(5)) == corpus.texts(range(5))


def test_corpus_from_lists() -> None:
    corpus = Corpus.from_lists(["a", "b"], ["T", ""], ["x", "y"])
    assert corpus.texts([0, 1]) == ["T x", "y"]
    with pytest.raises(DataError, match="duplicate document id 'a'"):
        Corpus.from_lists(["a", "a"], ["", ""], ["x", "y"])


def test_header_is_optional(make_beir: Any, cache_dir: Path, data_files: Any) -> None:
    text = data_files.beir_qrels(data_files.qrels["train"], header=False)
    collection = load(make_beir(qrels={"train": text}), cache_dir)
    assert collection.qrels["train"]["q1"] == {"d1": 2, "d3": 1, "d2": 0}


def test_only_requested_splits_are_read(make_beir: Any, cache_dir: Path) -> None:
    root = make_beir(qrels={"dev": None, "test": "garbage\n"})
    collection = load(root, cache_dir, splits=["train"])
    assert list(collection.qrels) == ["train"]
    with pytest.raises(DataError, match="dev split") as err:
        load(root, cache_dir, splits=["train", "dev"])
    assert err.value.path is not None and err.value.path.endswith("qrels")


def test_explicit_files_relative_to_root_or_cwd(
    make_beir: Any, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_files: Any
) -> None:
    root = make_beir()
    (root / "other").mkdir()
    (root / "other" / "docs.jsonl").write_text(data_files.jsonl(data_files.corpus[:4]), encoding="utf-8")
    (root / "other" / "q.tsv").write_text("id\ttext\nq1\tred fruit\nq2\tyellow\n", encoding="utf-8")
    (root / "other" / "t.tsv").write_text("q1\td4\t3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    collection = load(
        root,
        cache_dir,
        splits=["train", "test"],
        corpus_file="other/docs.jsonl",  # relative to the collection folder
        queries_file=str(root / "other" / "q.tsv"),  # absolute
        qrels_files={"test": str((root / "other" / "t.tsv").relative_to(tmp_path))},  # relative to cwd
    )
    assert len(collection.corpus) == 4
    assert collection.queries == {"q1": "red fruit", "q2": "yellow"}
    assert collection.qrels["test"] == {"q1": {"d4": 3}}
    with pytest.raises(DataError, match="corpus file not found"):
        load(root, cache_dir, corpus_file="nope.jsonl")


def _corpus_with(line: str, data_files: Any) -> str:
    return data_files.jsonl(data_files.corpus[:2]) + line + "\n"


@pytest.mark.parametrize(
    ("corpus_line", "message"),
    [
        ('{"_id": "d9", "text": ', "malformed JSON"),
        ('["d9", "text"]', "expected a JSON object"),
        ('{"title": "x", "text": "y"}', "missing field '_id'"),
        ('{"_id": "d9", "title": "x"}', "missing field 'text'"),
        ('{"_id": "d1", "text": "again"}', "duplicate document id 'd1'"),
        ('{"_id": "d9", "title": " ", "text": "  "}', "empty title and text"),
        ('{"_id": "d9", "text": 5}', "must be a string"),
        ('{"_id": "", "text": "x"}', "field '_id' is empty"),
    ],
)
def test_corpus_errors_name_file_and_line(
    corpus_line: str, message: str, make_beir: Any, cache_dir: Path, data_files: Any
) -> None:
    root = make_beir(corpus=_corpus_with(corpus_line, data_files))
    with pytest.raises(DataError, match=message) as err:
        load(root, cache_dir)
    assert err.value.path == str(root / "corpus.jsonl")
    assert err.value.line == 3
    assert str(err.value).startswith(f"{root / 'corpus.jsonl'}:3: ")
    assert not list((cache_dir / "corpora").glob("*.arrow")), "a failed build must leave no cache entry"


@pytest.mark.parametrize(
    ("query_line", "message"),
    [
        ("{not json}", "malformed JSON"),
        ('{"text": "x"}', "missing field '_id'"),
        ('{"_id": "q9"}', "missing field 'text'"),
        ('{"_id": "q1", "text": "again"}', "duplicate query id 'q1'"),
        ('{"_id": "q9", "text": "   "}', "field 'text' is empty"),
    ],
)
def test_query_errors_name_file_and_line(
    query_line: str, message: str, make_beir: Any, cache_dir: Path, data_files: Any
) -> None:
    root = make_beir(queries=data_files.jsonl(data_files.queries) + query_line + "\n")
    with pytest.raises(DataError, match=message) as err:
        load(root, cache_dir)
    assert (err.value.path, err.value.line) == (str(root / "queries.jsonl"), 5)


@pytest.mark.parametrize(
    ("qrels_line", "message"),
    [
        ("q1\td9\t1", "document id 'd9' is not in the corpus"),
        ("q9\td1\t1", "query id 'q9' is not in the queries"),
        ("q1\td1\t1", "duplicate judgment for query 'q1' and document 'd1'"),
        ("q1\td4\t1.5", "grade must be an integer, got '1.5'"),
        ("q1\td4\tx", "grade must be an integer, got 'x'"),
        ("q1\td4", "expected 3 tab-separated columns"),
        ("q1\td4\t1\textra", "expected 3 tab-separated columns"),
    ],
)
def test_qrels_errors_name_file_and_line(
    qrels_line: str, message: str, make_beir: Any, cache_dir: Path, data_files: Any
) -> None:
    text = data_files.beir_qrels(data_files.qrels["train"]) + qrels_line + "\n"
    root = make_beir(qrels={"train": text})
    with pytest.raises(DataError, match=message) as err:
        load(root, cache_dir)
    assert (err.value.path, err.value.line) == (str(root / "qrels" / "train.tsv"), 6)


def test_empty_qrels_file_is_an_error(make_beir: Any, cache_dir: Path) -> None:
    root = make_beir(qrels={"test": "query-id\tcorpus-id\tscore\n"})
    with pytest.raises(DataError, match="no relevance judgments"):
        load(root, cache_dir)


def test_invalid_utf8_names_the_line(make_beir: Any, cache_dir: Path, data_files: Any) -> None:
    root = make_beir()
    with open(root / "queries.jsonl", "ab") as handle:
        handle.write(b'{"_id": "q9", "text": "caf\xe9"}\n')
    with pytest.raises(DataError, match="not valid UTF-8") as err:
        load(root, cache_dir)
    assert err.value.line == 5


def test_crlf_and_bom_are_accepted(make_beir: Any, cache_dir: Path, data_files: Any) -> None:
    corpus = "\ufeff" + data_files.jsonl(data_files.corpus).replace("\n", "\r\n")
    qrels = data_files.beir_qrels(data_files.qrels["train"]).replace("\n", "\r\n")
    collection = load(make_beir(corpus=corpus, qrels={"train": qrels}), cache_dir)
    assert collection.corpus.ids[0] == "d1"
    assert collection.qrels["train"]["q1"]["d2"] == 0


def test_integer_ids_become_strings(make_beir: Any, cache_dir: Path) -> None:
    corpus = '{"_id": 7, "text": "seven"}\n{"_id": "8", "text": "eight"}\n'
    queries = '{"_id": 1, "text": "number"}\n'
    root = make_beir(corpus=corpus, queries=queries, qrels={"train": "1\t7\t1\n", "dev": None, "test": None})
    collection = load(root, cache_dir, splits=["train"])
    assert collection.corpus.ids == ["7", "8"]
    assert collection.qrels["train"] == {"1": {"7": 1}}


def test_cache_is_reused_and_never_stale(make_beir: Any, cache_dir: Path, data_files: Any) -> None:
    root = make_beir()
    first = load(root, cache_dir).corpus
    cached = sorted((cache_dir / "corpora").glob("*.arrow"))
    assert len(cached) == 1
    again = load(root, cache_dir).corpus
    assert again.fingerprint == first.fingerprint
    assert sorted((cache_dir / "corpora").glob("*.arrow")) == cached

    # Same size and modification time, different content: still detected (content hash).
    path = root / "corpus.jsonl"
    stat = path.stat()
    changed = path.read_text(encoding="utf-8").replace("Apples are red", "Apples are RED")
    path.write_text(changed, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    updated = load(root, cache_dir).corpus
    assert updated.fingerprint != first.fingerprint
    assert updated.text(0) == "Apples Apples are RED or green fruit."
    assert len(list((cache_dir / "corpora").glob("*.arrow"))) == 1, "the stale entry is removed"

    # A corpus made invalid after it was cached is reported, not served from the cache.
    path.write_text(changed + '{"_id": "d1", "text": "dup"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="duplicate document id"):
        load(root, cache_dir)


def test_unreadable_cache_entry_is_rebuilt(make_beir: Any, cache_dir: Path) -> None:
    root = make_beir()
    load(root, cache_dir)
    (entry,) = (cache_dir / "corpora").glob("*.arrow")
    entry.write_bytes(b"not arrow")
    assert load(root, cache_dir).corpus.text(0).startswith("Apples")


def test_unknown_format_and_missing_folder(tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(DataError, match="unknown collection format"):
        load_collection("csv", str(tmp_path), cache_dir=str(cache_dir))
    with pytest.raises(DataError, match="collection directory not found"):
        load_collection("beir", str(tmp_path / "missing"), cache_dir=str(cache_dir))


def test_default_cache_dir_honours_environment(
    make_beir: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADEDPR_CACHE_DIR", str(tmp_path / "envcache"))
    load_collection("beir", str(make_beir()))
    assert list((tmp_path / "envcache" / "corpora").glob("*.arrow"))


def test_titles_and_extra_fields(make_beir: Any, cache_dir: Path) -> None:
    corpus = json.dumps({"_id": "a", "title": "Only title", "text": "", "metadata": {"url": "u"}}) + "\n"
    root = make_beir(corpus=corpus, queries='{"_id": "q", "text": "t"}\n', qrels={"train": "q\ta\t1\n"})
    collection = load(root, cache_dir, splits=["train"])
    assert collection.corpus.text(0) == "Only title"


def test_a_registered_format_is_loaded_by_name(tmp_path: Path) -> None:
    from gradedpr.data.collection import FORMATS, Collection, LoadRequest, load_collection, register_format

    seen: list[LoadRequest] = []

    @register_format("test_only_format", qrels_suffixes=(".grades",), split_folder="judged")
    def read(request: LoadRequest) -> Collection:
        seen.append(request)
        return Collection(request.label, Corpus.from_lists(["d1"], [""], ["text"]), {"q1": "q"},
                          {split: {"q1": {"d1": 1}} for split in request.splits})

    try:
        (tmp_path / "judged").mkdir()
        (tmp_path / "judged" / "dev.grades").write_text("anything\n")
        collection = load_collection("test_only_format", str(tmp_path), ["dev"], name="x")
        assert collection.qrels == {"dev": {"q1": {"d1": 1}}}
        assert seen[0].files == {"dev": tmp_path / "judged" / "dev.grades"} and seen[0].label == "x"
        with pytest.raises(DataError, match=r"test split \(test_only_format format\) not found"):
            load_collection("test_only_format", str(tmp_path), ["test"])
    finally:
        del FORMATS["test_only_format"]
    with pytest.raises(DataError, match="unknown collection format 'test_only_format'"):
        load_collection("test_only_format", str(tmp_path), ["dev"])
