"""Fixtures of the reliability tests: a tiny BEIR collection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def tiny_beir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """8 documents, 2 test queries with graded judgments, BEIR layout (corpus cache kept under tmp_path)."""
    monkeypatch.setenv("GRADEDPR_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": "", "text": f"passage number {i} about topic {i % 2}"} for i in range(8)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    queries = [{"_id": "q0", "text": "topic 0"}, {"_id": "q1", "text": "topic 1"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t2\nq0\td2\t1\nq1\td1\t1\n",
                                             encoding="utf-8")
    return root
