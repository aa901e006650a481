"""Tiny BEIR collections for the tests: one writer of the layout, and the 9-topic collection the script tests
train on (``from tiny_beir import write_beir, write_tiny_beir``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

TOPICS = ["apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "plum", "kiwi"]


def write_beir(
    root: Path,
    docs: Iterable[Mapping[str, Any]],
    queries: Mapping[str, str],
    qrels: Mapping[str, Iterable[tuple[str, str, int]]],
) -> Path:
    """``root/corpus.jsonl`` (``docs``: ``_id``, ``title``, ``text``), ``root/queries.jsonl`` (qid -> text) and
    ``root/qrels/<split>.tsv`` (a header, then ``qid docid grade`` per judgment) for each split of ``qrels``."""
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(dict(d)) + "\n" for d in docs), encoding="utf-8")
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": qid, "text": text}) + "\n" for qid, text in queries.items()), encoding="utf-8"
    )
    for split, rows in qrels.items():
        lines = ["query-id\tcorpus-id\tscore", *(f"{qid}\t{docid}\t{grade}" for qid, docid, grade in rows)]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_tiny_beir(root: Path) -> Path:
    """9 topics x 4 passages; a query per topic; 3 topics per split; grade 2 for one passage, 1 for the others."""
    docs = [{"_id": f"{topic}-{i}", "title": topic, "text": f"passage {i} on {topic} number {t}"}
            for t, topic in enumerate(TOPICS) for i in range(4)]
    queries = {f"q{t}": f"what about {topic}" for t, topic in enumerate(TOPICS)}
    qrels = {
        split: [(f"q{t}", f"{TOPICS[t]}-{i}", 2 if i == 0 else 1) for t in range(3 * s, 3 * s + 3) for i in range(4)]
        for s, split in enumerate(("train", "dev", "test"))
    }
    return write_beir(root, docs, queries, qrels)
