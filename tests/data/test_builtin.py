"""The built-in collection: valid BEIR files, sizes, grades, no leakage across splits, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradedpr.data import builtin
from gradedpr.data.builtin import FILES, build_builtin
from gradedpr.data.collection import Collection, load_collection
from gradedpr.errors import OutputError

SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_builtin(tmp_path_factory.mktemp("builtin") / "builtin")


@pytest.fixture(scope="module")
def collection(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Collection:
    return load_collection("beir", str(built), SPLITS, cache_dir=str(tmp_path_factory.mktemp("cache")))


def test_loads_with_validation_and_has_the_promised_size(collection: Collection, built: Path) -> None:
    sizes = collection.counts()
    assert 1000 <= sizes["documents"] <= 2000
    assert sizes["queries"] >= 300
    assert sum(sizes[f"{split}_queries"] for split in SPLITS) == sizes["queries"]
    for split, share in builtin.SPLIT_SHARES:
        assert abs(sizes[f"{split}_queries"] / sizes["queries"] - share) < 0.03
    meta = json.loads((built / "meta.json").read_text(encoding="utf-8"))
    assert meta["generator_version"] == builtin.GENERATOR_VERSION
    assert meta["counts"]["passages"] == sizes["documents"]
    assert meta["counts"]["queries"] == sizes["queries"]


def test_passages_are_short_and_titled(collection: Collection) -> None:
    corpus = collection.corpus
    lengths = [len(corpus.dataset[row]["text"].split()) for row in range(len(corpus))]
    assert min(lengths) >= builtin.MIN_WORDS and max(lengths) <= builtin.MAX_WORDS
    assert all(corpus.dataset[row]["title"] == corpus.ids[row] for row in range(0, len(corpus), 50))


def test_grades(collection: Collection, built: Path) -> None:
    for split in SPLITS:
        rows = (built / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]
        assert {line.split("\t")[2] for line in rows} == {"1", "2"}  # grade 0 is implicit
        for qid, docs in collection.qrels[split].items():
            answers = [docid for docid, grade in docs.items() if grade == 2]
            assert answers == [qid.removeprefix("q:")]  # exactly the passage the query was made from
            assert sum(1 for grade in docs.values() if grade == 1) <= builtin.MAX_RELATED
    graded_one = sum(1 for split in SPLITS for docs in collection.qrels[split].values() if 1 in docs.values())
    assert graded_one > 0.5 * len(collection.queries)


def test_no_leakage_across_splits(collection: Collection) -> None:
    judged = {split: {d for docs in collection.qrels[split].values() for d in docs} for split in SPLITS}
    texts = {split: set(collection.split_queries(split).values()) for split in SPLITS}
    qids = {split: set(collection.qrels[split]) for split in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not judged[a] & judged[b], f"{a}/{b} share judged passages"
            assert not texts[a] & texts[b], f"{a}/{b} share query texts"
            assert not qids[a] & qids[b]
    assert len(set(collection.queries.values())) == len(collection.queries)  # no repeated query text at all


def test_queries_do_not_copy_their_passage(collection: Collection) -> None:
    corpus = collection.corpus
    copied = sum(
        1 for qid, text in collection.queries.items() if text in corpus.text(corpus.row(qid[2:])).lower()
    )
    assert copied < 0.05 * len(collection.queries)


def test_deterministic_bytes(built: Path, tmp_path: Path) -> None:
    again = build_builtin(tmp_path / "again", force=True)
    for name in (*FILES, "meta.json"):
        assert (again / name).read_bytes() == (built / name).read_bytes(), name


def test_rebuilt_only_when_missing_stale_or_damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = build_builtin(tmp_path / "b")
    stamp = (root / "corpus.jsonl").stat().st_ino
    assert build_builtin(root) == root
    assert (root / "corpus.jsonl").stat().st_ino == stamp, "a current build is reused"

    monkeypatch.setattr(builtin, "GENERATOR_VERSION", "test-next")
    build_builtin(root)
    assert json.loads((root / "meta.json").read_text())["generator_version"] == "test-next"
    monkeypatch.undo()

    (root / "qrels" / "dev.tsv").write_text("damaged\n", encoding="utf-8")
    build_builtin(root)
    assert (root / "qrels" / "dev.tsv").read_text(encoding="utf-8").startswith("query-id\tcorpus-id\tscore\n")
    (root / "meta.json").unlink()  # without its marker the directory is no longer known to be a build
    with pytest.raises(OutputError, match="no meta\\.json of gradedpr's"):
        build_builtin(root)
    assert not (root / "meta.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name != "b"], "no temporary directories are left behind"


def test_same_bytes_in_a_fresh_process_with_another_hash_seed(built: Path, tmp_path: Path) -> None:
    """Nothing depends on set order (hash randomisation) or on what the test process imported before."""
    import os
    import subprocess
    import sys

    code = "import sys; from gradedpr.data.builtin import build_builtin; build_builtin(sys.argv[1])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "fresh")], check=True, env=env, timeout=120)
    for name in (*FILES, "meta.json"):
        assert (tmp_path / "fresh" / name).read_bytes() == (built / name).read_bytes(), name
