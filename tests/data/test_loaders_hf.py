"""``data.format=hf``: BEIR-style collections stored with Hugging Face ``datasets`` (save_to_disk directories,
parquet, jsonl) read offline to the same collection as the BEIR files; errors name the table and the row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest

from gradedpr.config.schema import DataConfig
from gradedpr.data.collection import Collection, load_collection
from gradedpr.errors import DataError


def qrels_rows(files: Any, split: str) -> list[dict[str, Any]]:
    return [{"query-id": q, "corpus-id": d, "score": g} for q, d, g in files.qrels[split]]


def corpus_table(files: Any) -> datasets.Dataset:
    return datasets.Dataset.from_list([{"_id": r["_id"], "title": r.get("title"), "text": r["text"]}
                                       for r in files.corpus])


def save_to_disk_layout(files: Any, root: Path) -> Path:
    """As ``load_dataset("BeIR/...", "corpus").save_to_disk(...)`` leaves it: DatasetDicts of one split for the
    corpus and queries, a DatasetDict of train/dev/test for the qrels."""
    datasets.DatasetDict({"corpus": corpus_table(files)}).save_to_disk(str(root / "corpus"))
    datasets.DatasetDict({"queries": datasets.Dataset.from_list(files.queries)}).save_to_disk(str(root / "queries"))
    datasets.DatasetDict({s: datasets.Dataset.from_list(qrels_rows(files, s)) for s in files.qrels}).save_to_disk(
        str(root / "qrels"))
    return root


def parquet_layout(files: Any, root: Path, qrels_suffix: str = ".parquet") -> Path:
    (root / "qrels").mkdir(parents=True)
    corpus_table(files).to_parquet(str(root / "corpus.parquet"))
    datasets.Dataset.from_list(files.queries).to_parquet(str(root / "queries.parquet"))
    for split in files.qrels:
        table = datasets.Dataset.from_list(qrels_rows(files, split))
        if qrels_suffix == ".parquet":
            table.to_parquet(str(root / "qrels" / f"{split}.parquet"))
        else:
            table.to_json(str(root / "qrels" / f"{split}.jsonl"), lines=True)
    return root


def load(root: Path, cache_dir: Path, **kwargs: Any) -> Collection:
    return load_collection("hf", str(root), cache_dir=str(cache_dir), **kwargs)


@pytest.mark.parametrize("layout", ["save_to_disk", "parquet", "jsonl qrels"])
def test_hf_tables_read_as_the_same_collection_as_beir_files(layout: str, make_beir: Any, tmp_path: Path,
                                                             cache_dir: Path, data_files: Any) -> None:
    files = data_files
    root = tmp_path / "hf"
    if layout == "save_to_disk":
        save_to_disk_layout(files, root)
    else:
        parquet_layout(files, root, ".parquet" if layout == "parquet" else ".jsonl")
    got = load(root, cache_dir)
    want = load_collection("beir", str(make_beir()), cache_dir=str(cache_dir))
    assert got.corpus.ids == want.corpus.ids
    assert got.corpus.texts(list(range(len(got.corpus)))) == want.corpus.texts(list(range(len(want.corpus))))
    assert got.queries == want.queries and got.qrels == want.qrels
    assert got.qrels["dev"] == {"q3": {"d4": 1, "d1": -1}}
    again = load(root, cache_dir, splits=["test"])  # the corpus now comes from the arrow cache
    assert again.corpus.ids == want.corpus.ids and set(again.qrels) == {"test"}


def test_integer_ids_and_float_grades_other_column_names(tmp_path: Path, cache_dir: Path) -> None:
    root = tmp_path / "ints"
    (root / "qrels").mkdir(parents=True)
    datasets.Dataset.from_list([{"id": 1, "text": "one"}, {"id": 2, "text": "two"}]).save_to_disk(
        str(root / "corpus"))
    datasets.Dataset.from_list([{"id": 7, "text": "q"}]).to_parquet(str(root / "queries.parquet"))
    datasets.Dataset.from_list([{"query_id": 7, "doc_id": 2, "grade": 2.0}]).save_to_disk(
        str(root / "qrels" / "test"))
    collection = load(root, cache_dir, splits=["test"])
    assert collection.corpus.ids == ["1", "2"] and collection.qrels == {"test": {"7": {"2": 2}}}


def test_errors_name_the_table_and_row(tmp_path: Path, cache_dir: Path, data_files: Any) -> None:
    files = data_files
    root = parquet_layout(files, tmp_path / "bad")
    datasets.Dataset.from_list([*qrels_rows(files, "test"), *qrels_rows(files, "test")]).to_parquet(
        str(root / "qrels" / "test.parquet"))
    with pytest.raises(DataError, match=r"test\.parquet:2: duplicate judgment"):
        load(root, cache_dir, splits=["test"])
    datasets.Dataset.from_list([{"query-id": "q4", "corpus-id": "nowhere", "score": 1}]).to_parquet(
        str(root / "qrels" / "test.parquet"))
    with pytest.raises(DataError, match=r"test\.parquet:1: document id 'nowhere' is not in the corpus"):
        load(root, cache_dir, splits=["test"])
    datasets.Dataset.from_list([{"query": "q4", "doc": "d5"}]).to_parquet(str(root / "qrels" / "test.parquet"))
    with pytest.raises(DataError, match="no query id column"):
        load(root, cache_dir, splits=["test"])
    with pytest.raises(DataError, match=r"holdout split \(hf format\) not found"):
        load(root, cache_dir, splits=["holdout"])


def test_a_dataset_dict_of_several_splits_is_not_a_corpus(tmp_path: Path, cache_dir: Path, data_files: Any) -> None:
    files = data_files
    root = parquet_layout(files, tmp_path / "dict")
    (root / "corpus.parquet").unlink()
    datasets.DatasetDict({"a": corpus_table(files), "b": corpus_table(files)}).save_to_disk(str(root / "corpus"))
    with pytest.raises(DataError, match="DatasetDict with 2 splits"):
        load(root, cache_dir)


def test_the_schema_accepts_format_hf() -> None:
    assert DataConfig(name="x", path="y", format="hf").format == "hf"


def test_a_hub_id_is_saved_once_and_read_locally(tmp_path: Path, cache_dir: Path, data_files: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """hf://owner/name: the Hub's corpus / queries configs and the BEIR-style <name>-qrels dataset are saved under
    the cache (``datasets.load_dataset`` replaced by local tables: no network in tests), then read offline."""
    files = data_files
    calls: list[tuple[str, str | None]] = []

    def fake_load_dataset(repo: str, config: str | None = None) -> datasets.DatasetDict:
        calls.append((repo, config))
        if repo == "BeIR/tiny" and config == "corpus":
            return datasets.DatasetDict({"corpus": corpus_table(files)})
        if repo == "BeIR/tiny" and config == "queries":
            return datasets.DatasetDict({"queries": datasets.Dataset.from_list(files.queries)})
        if repo == "BeIR/tiny-qrels" and config is None:
            return datasets.DatasetDict({s: datasets.Dataset.from_list(qrels_rows(files, s)) for s in files.qrels})
        raise ValueError(f"BuilderConfig {config!r} not found")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    collection = load_collection("hf", "hf://BeIR/tiny", cache_dir=str(cache_dir))
    assert collection.name == "tiny" and collection.qrels["train"]["q1"] == {"d1": 2, "d3": 1, "d2": 0}
    assert calls == [("BeIR/tiny", "corpus"), ("BeIR/tiny", "queries"), ("BeIR/tiny", "default"),
                     ("BeIR/tiny-qrels", None)]
    again = load_collection("hf", "hf://BeIR/tiny", splits=["test"], cache_dir=str(cache_dir))
    assert again.qrels == {"test": {"q4": {"d5": 2}}} and len(calls) == 4  # the saved copy, no download
    with pytest.raises(DataError, match="hf://<owner>/<name>"):
        load_collection("hf", "hf://not a repo", cache_dir=str(cache_dir))
    with pytest.raises(DataError, match="a network is needed the first time"):
        load_collection("hf", "hf://Other/missing", cache_dir=str(cache_dir))
    assert not (cache_dir / "hub" / "Other__missing").exists()
