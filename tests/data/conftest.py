"""Fixtures that write tiny collections (BEIR, TREC, DPR) into temporary directories."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

CORPUS = [
    {"_id": "d1", "title": "Apples", "text": "Apples are red or green fruit."},
    {"_id": "d2", "title": "", "text": "Bananas are yellow."},
    {"_id": "d3", "title": "Cherries", "text": "Cherries are small and red."},
    {"_id": "d4", "title": "Dates", "text": "Dates grow on palms."},
    {"_id": "d5", "text": "Elderberries are dark purple."},
]
QUERIES = [
    {"_id": "q1", "text": "red fruit"},
    {"_id": "q2", "text": "yellow fruit"},
    {"_id": "q3", "text": "palm fruit"},
    {"_id": "q4", "text": "purple fruit"},
]
QRELS = {
    "train": [("q1", "d1", 2), ("q1", "d3", 1), ("q1", "d2", 0), ("q2", "d2", 2)],
    "dev": [("q3", "d4", 1), ("q3", "d1", -1)],
    "test": [("q4", "d5", 2)],
}

BeirFactory = Callable[..., Path]


def jsonl(records: Sequence[Mapping[str, Any]]) -> str:
    """JSON-lines text of ``records``."""
    return "".join(json.dumps(record) + "\n" for record in records)


def beir_qrels(rows: Sequence[tuple[str, str, int]], header: bool = True) -> str:
    """BEIR qrels TSV text."""
    lines = ["query-id\tcorpus-id\tscore"] if header else []
    lines += [f"{q}\t{d}\t{g}" for q, d, g in rows]
    return "\n".join(lines) + "\n"


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A private arrow cache directory (never the user's cache)."""
    return tmp_path / "cache"


@pytest.fixture
def make_beir(tmp_path: Path) -> BeirFactory:
    """``make_beir(name, corpus=text, queries=text, qrels={split: text})``: a BEIR folder; defaults are valid.

    Pass raw file text to plant errors; ``qrels`` entries replace the default split files (None drops one).
    """

    def make(
        name: str = "beir",
        corpus: str | None = None,
        queries: str | None = None,
        qrels: Mapping[str, str | None] | None = None,
    ) -> Path:
        root = tmp_path / name
        (root / "qrels").mkdir(parents=True, exist_ok=True)
        (root / "corpus.jsonl").write_text(jsonl(CORPUS) if corpus is None else corpus, encoding="utf-8")
        (root / "queries.jsonl").write_text(jsonl(QUERIES) if queries is None else queries, encoding="utf-8")
        files: dict[str, str | None] = {split: beir_qrels(rows) for split, rows in QRELS.items()}
        files.update(qrels or {})
        for split, text in files.items():
            if text is not None:
                (root / "qrels" / f"{split}.tsv").write_text(text, encoding="utf-8")
        return root

    return make


def dpr_ctx(title: str, text: str, pid: str | None = None, **extra: Any) -> dict[str, Any]:
    """One DPR context."""
    ctx: dict[str, Any] = {"title": title, "text": text, **extra}
    if pid is not None:
        ctx["passage_id"] = pid
    return ctx


DPR_TRAIN = [
    {
        "question": "who wrote hamlet",
        "answers": ["Shakespeare"],
        "positive_ctxs": [dpr_ctx("Hamlet", "Hamlet is a tragedy by William Shakespeare.", "p1")],
        "negative_ctxs": [dpr_ctx("Paris", "Paris is the capital of France.", "p3")],
        "hard_negative_ctxs": [dpr_ctx("Macbeth", "Macbeth is another tragedy.", "p2")],
    },
    {
        "question": "capital of france",
        "positive_ctxs": [
            dpr_ctx("Paris", "Paris is the capital of France.", "p3", grade=2),
            dpr_ctx("France", "France is a country in Europe.", None),
        ],
        "negative_ctxs": [],
        "hard_negative_ctxs": [dpr_ctx("Lyon", "Lyon is a French city.", "p4", grade=1)],
    },
]
DPR_DEV = [
    {
        "id": "dev-q",
        "question": "tragedy by shakespeare",
        "positive_ctxs": [dpr_ctx("Macbeth", "Macbeth is another tragedy.", "p2")],
        "negative_ctxs": [],
        "hard_negative_ctxs": [],
    }
]


@pytest.fixture
def dpr_dir(tmp_path: Path) -> Path:
    """A DPR folder: ``train.json`` (indented JSON array) and ``dev.jsonl``."""
    root = tmp_path / "dpr"
    root.mkdir()
    (root / "train.json").write_text(json.dumps(DPR_TRAIN, indent=2), encoding="utf-8")
    (root / "dev.jsonl").write_text(jsonl(DPR_DEV), encoding="utf-8")
    return root


class DataFiles:
    """The helpers and default records above, handed to tests by the ``data_files`` fixture."""

    corpus = CORPUS
    queries = QUERIES
    qrels = QRELS
    dpr_train = DPR_TRAIN
    dpr_dev = DPR_DEV
    jsonl = staticmethod(jsonl)
    beir_qrels = staticmethod(beir_qrels)
    dpr_ctx = staticmethod(dpr_ctx)


@pytest.fixture
def data_files() -> type[DataFiles]:
    """Default records and text helpers (conftest modules are not importable by name)."""
    return DataFiles
