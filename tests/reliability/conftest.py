"""Fixtures of the reliability tests: a tiny BEIR collection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def tiny_beir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """12 documents, 6 queries (2 per split: train, dev, test) with graded judgments, BEIR layout; the
    corpus cache is kept under tmp_path."""
    monkeypatch.setenv("GRADEDPR_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": "", "text": f"passage number {i} about topic {i % 6}"} for i in range(12)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    queries = [{"_id": f"q{t}", "text": f"topic {t}"} for t in range(6)]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    for split, topics in (("train", (0, 1)), ("dev", (2, 3)), ("test", (4, 5))):
        lines = ["query-id\tcorpus-id\tscore"]
        lines += [f"q{t}\td{t}\t2\nq{t}\td{t + 6}\t1" for t in topics]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
