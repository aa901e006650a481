"""Readers for the BEIR layout (Thakur et al., 2021): corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

- corpus: one JSON object a line, ``{"_id", "title", "text"}``; ``title`` may be missing or null; a document
  needs a non-empty title or text. Other fields (BEIR's ``metadata``) are ignored.
- queries: one JSON object a line, ``{"_id", "text"}`` (or, for a file ending in ``.tsv``, ``id<TAB>text``).
- qrels: tab-separated ``query-id corpus-id score`` with an optional header line; integer scores of any scale.

The corpus and queries readers are shared with the TREC loader (:mod:`gradedpr.data.trec`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gradedpr.data.corpus import Corpus
from gradedpr.data.corpus_cache import cache_path, open_cached_corpus, source_fingerprint, write_corpus
from gradedpr.data.validation import (
    check_id_token,
    document,
    iter_jsonl,
    iter_lines,
    require_id,
    require_text,
)
from gradedpr.errors import DataError

_QUERY_ID_HEADERS = {"query-id", "query_id", "qid", "query", "queryid", "id", "_id"}
_TEXT_HEADERS = {"text", "query", "question", "query-text", "query_text"}


def _corpus_rows(path: Path) -> Iterator[tuple[str, str, str]]:
    seen: set[str] = set()
    for line, record in iter_jsonl(path):
        docid = require_id(record, "_id", path, line)
        if "text" not in record:
            raise DataError("missing field 'text'", path, line)
        yield document(record, docid, seen, path, line)


def read_corpus_jsonl(path: Path, cache_dir: Path) -> Corpus:
    """The validated corpus of a BEIR ``corpus.jsonl``, from the arrow cache when the file is unchanged."""
    fingerprint = source_fingerprint("corpus-jsonl", [path])
    target = cache_path(cache_dir, "corpus-jsonl", [path], fingerprint)
    cached = open_cached_corpus(target, fingerprint)
    if cached is not None:
        return cached
    return write_corpus(target, _corpus_rows(path), path, fingerprint)


def read_queries(path: Path) -> dict[str, str]:
    """Query id -> text from ``queries.jsonl`` (``{"_id", "text"}``), or ``id<TAB>text`` lines (``*.tsv``)."""
    queries: dict[str, str] = {}
    if path.suffix == ".tsv":
        for line, content in iter_lines(path):
            fields = content.split("\t")
            header = [f.strip().lower() for f in fields]
            if (
                line == 1
                and len(fields) == 2
                and header[0] in _QUERY_ID_HEADERS
                and header[1] in _TEXT_HEADERS
            ):
                continue
            if len(fields) != 2:
                raise DataError(f"expected 2 tab-separated columns (id, text), got {len(fields)}", path, line)
            qid, text = fields[0].strip(), fields[1].strip()
            if not qid:
                raise DataError("empty query id", path, line)
            check_id_token(qid, "query id", path, line)
            _add_query(queries, qid, text, path, line)
    else:
        for line, record in iter_jsonl(path):
            qid = require_id(record, "_id", path, line)
            _add_query(queries, qid, require_text(record, "text", path, line).strip(), path, line)
    if not queries:
        raise DataError("no queries in the file", path)
    return queries


def _add_query(queries: dict[str, str], qid: str, text: str, path: Path, line: int) -> None:
    if not text:
        raise DataError(f"query {qid!r} has an empty text", path, line)
    if qid in queries:
        raise DataError(f"duplicate query id {qid!r}", path, line)
    queries[qid] = text
