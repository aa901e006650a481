"""Fixtures of the reliability tests: a tiny BEIR collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny_beir import write_beir


@pytest.fixture
def tiny_beir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """12 documents, 6 queries (2 per split: train, dev, test) with graded judgments, BEIR layout; the
    corpus cache is kept under tmp_path."""
    monkeypatch.setenv("GRADEDPR_CACHE_DIR", str(tmp_path / "cache"))
    docs = [{"_id": f"d{i}", "title": "", "text": f"passage number {i} about topic {i % 6}"} for i in range(12)]
    queries = {f"q{t}": f"topic {t}" for t in range(6)}
    qrels = {split: [row for t in topics for row in ((f"q{t}", f"d{t}", 2), (f"q{t}", f"d{t + 6}", 1))]
             for split, topics in (("train", (0, 1)), ("dev", (2, 3)), ("test", (4, 5)))}
    return write_beir(tmp_path / "beir", docs, queries, qrels)
