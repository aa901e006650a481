"""Reader for DPR retriever training files (Karpukhin et al., 2020; facebookresearch/DPR's JSON layout).

A file holds a JSON array (``.json``) or one object per line (``.jsonl``); each object is a question::

    {"question": str, "answers": [str, ...],            # answers optional, not used
     "id" | "qid": str | int,                            # optional; default "<split>-<index>" (0-based)
     "positive_ctxs": [ctx, ...], "hard_negative_ctxs": [ctx, ...], "negative_ctxs": [ctx, ...]}
    ctx = {"title": str, "text": str, "passage_id" | "psg_id": str | int, "grade": int}   # id, grade optional

- The corpus is every context of the files read, deduplicated by id, in order of first appearance. A context
  without an id gets ``dpr-<hash of title and text>``; one id with two different texts is an error.
- Judgments: a positive gets its ``grade`` or 1; a negative or hard negative gets its ``grade`` or 0 (a judged
  non-relevant row). ``score``/``title_score`` are ignored: in DPR's own files they are BM25 scores (1000
  for positives), not grades (DPR issues #91 and #118).
- ``negatives[qid]`` lists the negatives with grade <= 0, hard negatives first, each once.
- A context listed twice for one question is kept once if both give the same grade; different grades are an
  error (for example a passage that is both a positive and a hard negative).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradedpr.data.corpus import Corpus
from gradedpr.data.corpus_cache import cache_path, open_cached_corpus, source_fingerprint, write_corpus
from gradedpr.data.validation import (
    iter_json_records,
    optional_grade,
    optional_text,
    require_id,
    require_text,
)
from gradedpr.errors import DataError

_CONTEXT_LISTS = (("positive_ctxs", 1), ("hard_negative_ctxs", 0), ("negative_ctxs", 0))
_CONTEXT_ID_KEYS = ("passage_id", "psg_id")
_QUESTION_ID_KEYS = ("id", "qid")


@dataclass
class DprData:
    """Everything read from the DPR files of the requested splits."""

    corpus: Corpus
    queries: dict[str, str] = field(default_factory=dict)
    qrels: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    negatives: dict[str, list[str]] = field(default_factory=dict)


def context_id(title: str, text: str) -> str:
    """The stable id of a context without one: ``dpr-`` and 16 hex digits of a hash of its title and text."""
    return "dpr-" + hashlib.blake2b(f"{title}\0{text}".encode(), digest_size=8).hexdigest()


class _Reader:
    """One pass over the split files: yields new corpus rows, fills queries / qrels / negatives on the way."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = files
        self.queries: dict[str, str] = {}
        self.qrels: dict[str, dict[str, dict[str, int]]] = {}
        self.negatives: dict[str, list[str]] = {}
        self._digests: dict[str, int] = {}

    def rows(self) -> Iterator[tuple[str, str, str]]:
        for split, path in self.files.items():
            judgments: dict[str, dict[str, int]] = {}
            count = 0
            for line, label, record in iter_json_records(path):
                yield from self._question(split, count, record, path, line, label, judgments)
                count += 1
            if count == 0:
                raise DataError("no questions in the file", path)
            self.qrels[split] = judgments

    def _question(
        self,
        split: str,
        index: int,
        record: dict[str, Any],
        path: Path,
        line: int,
        label: str,
        judgments: dict[str, dict[str, int]],
    ) -> Iterator[tuple[str, str, str]]:
        key = next((k for k in _QUESTION_ID_KEYS if record.get(k) is not None), None)
        qid = require_id(record, key, path, line, label) if key else f"{split}-{index}"
        if qid in self.queries:
            raise DataError(f"{label}duplicate question id {qid!r}", path, line)
        self.queries[qid] = require_text(record, "question", path, line, label).strip()
        grades: dict[str, int] = {}
        negatives: list[str] = []
        for list_key, default_grade in _CONTEXT_LISTS:
            contexts = record.get(list_key) or []
            if not isinstance(contexts, list):
                raise DataError(f"{label}field {list_key!r} must be a list", path, line)
            for position, context in enumerate(contexts):
                where = f"{label}{list_key}[{position}]: "
                if not isinstance(context, dict):
                    raise DataError(
                        f"{where}expected a JSON object, got {type(context).__name__}", path, line
                    )
                docid, is_new, title, text = self._context(context, path, line, where)
                if is_new:
                    yield docid, title, text
                grade = optional_grade(context, "grade", path, line, where)
                grade = default_grade if grade is None else grade
                if docid in grades:
                    if grades[docid] != grade:
                        raise DataError(
                            f"{where}document {docid!r} is listed again for this question with grade "
                            f"{grade}, earlier with grade {grades[docid]}",
                            path,
                            line,
                        )
                    continue
                grades[docid] = grade
                if default_grade == 0 and grade <= 0:
                    negatives.append(docid)
        if grades:
            judgments[qid] = grades
        if negatives:
            self.negatives[qid] = negatives

    def _context(
        self, context: dict[str, Any], path: Path, line: int, where: str
    ) -> tuple[str, bool, str, str]:
        title = optional_text(context, "title", path, line, where).strip()
        text = optional_text(context, "text", path, line, where).strip()
        if not title and not text:
            raise DataError(f"{where}context has an empty title and text", path, line)
        key = next((k for k in _CONTEXT_ID_KEYS if context.get(k) is not None), None)
        docid = require_id(context, key, path, line, where) if key else context_id(title, text)
        digest = int.from_bytes(hashlib.blake2b(f"{title}\0{text}".encode(), digest_size=8).digest(), "big")
        known = self._digests.get(docid)
        if known is None:
            self._digests[docid] = digest
            return docid, True, title, text
        if known != digest:
            raise DataError(
                f"{where}document id {docid!r} appears earlier with a different title or text", path, line
            )
        return docid, False, title, text


def read_dpr(files: Mapping[str, Path], cache_dir: Path) -> DprData:
    """Corpus, questions, judgments and negatives of the DPR files ``split -> path`` (read in that order)."""
    sources = list(files.values())
    fingerprint = source_fingerprint("dpr", sources)
    target = cache_path(cache_dir, "dpr", sources, fingerprint)
    reader = _Reader(files)
    corpus = open_cached_corpus(target, fingerprint)
    if corpus is None:
        corpus = write_corpus(target, reader.rows(), sources[0], fingerprint)
    else:
        for _ in reader.rows():  # the questions and judgments are read again; the corpus rows are cached
            pass
    return DprData(corpus=corpus, queries=reader.queries, qrels=reader.qrels, negatives=reader.negatives)
