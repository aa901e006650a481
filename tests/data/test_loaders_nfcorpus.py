"""The real NFCorpus copy in BEIR layout loads with the counts its README states (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradedpr.data.collection import load_collection

NFCORPUS = Path("/work/shared/data/nfcorpus")

pytestmark = pytest.mark.skipif(
    not (NFCORPUS / "corpus.jsonl").is_file(), reason="NFCorpus is not on this machine"
)


def test_nfcorpus_counts(tmp_path: Path) -> None:
    collection = load_collection("beir", str(NFCORPUS), cache_dir=str(tmp_path))
    assert collection.name == "nfcorpus"
    assert collection.counts() == {
        "documents": 3633,
        "queries": 3244,
        "train_queries": 2590,
        "train_qrels": 110575,
        "dev_queries": 324,
        "dev_qrels": 11385,
        "test_queries": 323,
        "test_qrels": 12334,
    }
    grades = [g for docs in collection.qrels["train"].values() for g in docs.values()]
    assert (grades.count(1), grades.count(2)) == (106296, 4279)
    assert collection.corpus.text(collection.corpus.row("MED-10")).startswith("Statin Use and Breast Cancer")


def test_nfcorpus_three_level_qrels(tmp_path: Path) -> None:
    files = {split: str(NFCORPUS / "qrels-3level" / f"{split}.tsv") for split in ("train", "dev", "test")}
    collection = load_collection("beir", str(NFCORPUS), qrels_files=files, cache_dir=str(tmp_path))
    sizes = collection.counts()
    assert (sizes["train_qrels"], sizes["dev_qrels"], sizes["test_qrels"]) == (139350, 14589, 15820)
    assert (sizes["train_queries"], sizes["dev_queries"], sizes["test_queries"]) == (2594, 325, 325)
