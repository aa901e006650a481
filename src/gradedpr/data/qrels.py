"""Qrels files, one reader per format: TREC (``qid iter docid grade``) and BEIR tsv
(``query-id<TAB>corpus-id<TAB>score``, header optional). Grades are integers of any sign and scale.

Both readers check each judgment as it is read (:class:`QrelsTable`): a query or document unknown to the
given queries / corpus, a repeated (qid, docid) pair, a non-integer grade and an empty file are
``DataError(message, path, line)``. The TREC ``iter`` column is ignored, as trec_eval ignores it.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from pathlib import Path

from gradedpr.data.validation import is_integer, iter_lines, parse_grade
from gradedpr.errors import DataError
from gradedpr.types import Qrels

_QUERY_ID_HEADERS = {"query-id", "query_id", "qid", "query", "queryid", "id", "_id"}
_GRADE_HEADERS = {"score", "grade", "relevance", "label", "rel"}


class QrelsTable:
    """Judgments of one split (qid -> docid -> grade) checked as they are added.

    Rejects a query id unknown to the queries, a document id unknown to the corpus (each when given) and a
    repeated (qid, docid) pair. Judged grade-0 (or negative) rows are kept: a judged non-relevant document is
    information (it is not the same as an unjudged one for some tools), and callers decide what to do with it.
    """

    def __init__(self, query_ids: Container[str] | None = None, doc_ids: Container[str] | None = None) -> None:
        self.query_ids = query_ids
        self.doc_ids = doc_ids
        self.judgments: dict[str, dict[str, int]] = {}
        self.rows = 0

    def add(self, qid: str, docid: str, grade: int, path: Path, line: int, label: str = "") -> None:
        """Record one judgment read at ``path:line``."""
        if self.query_ids is not None and qid not in self.query_ids:
            raise DataError(f"{label}query id {qid!r} is not in the queries", path, line)
        if self.doc_ids is not None and docid not in self.doc_ids:
            raise DataError(f"{label}document id {docid!r} is not in the corpus", path, line)
        docs = self.judgments.setdefault(qid, {})
        if docid in docs:
            raise DataError(f"{label}duplicate judgment for query {qid!r} and document {docid!r}", path, line)
        docs[docid] = grade
        self.rows += 1

    def finish(self, path: Path) -> dict[str, dict[str, int]]:
        """The table; a file without a single judgment is an error (a requested split must have data)."""
        if not self.rows:
            raise DataError("no relevance judgments in the file", path)
        return self.judgments


QrelsRow = tuple[int, str, str, int]
"""``(line, qid, docid, grade)``: one judgment as a qrels file holds it."""


def iter_trec_qrels(path: Path) -> Iterator[QrelsRow]:
    """The judgments of a TREC qrels file (four whitespace-separated columns, no header) in file order."""
    for line, content in iter_lines(path):
        fields = content.split()
        if len(fields) != 4:
            raise DataError(
                f"expected 4 whitespace-separated columns (qid iteration docid grade), got {len(fields)}",
                path,
                line,
            )
        qid, _, docid, grade = fields
        yield line, qid, docid, parse_grade(grade, path, line)


def iter_beir_qrels(path: Path) -> Iterator[QrelsRow]:
    """The judgments of a BEIR qrels TSV (``query-id<TAB>corpus-id<TAB>score``, header optional) in file order."""
    for line, content in iter_lines(path):
        fields = [field.strip() for field in content.split("\t")]
        if line == 1 and len(fields) == 3 and _is_header(fields):
            continue
        if len(fields) != 3:
            raise DataError(
                f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(fields)}",
                path,
                line,
            )
        qid, docid, grade = fields
        yield line, qid, docid, parse_grade(grade, path, line)


def read_trec_qrels(
    path: Path, query_ids: Container[str] | None = None, doc_ids: Container[str] | None = None
) -> Qrels:
    """qid -> docid -> grade from a TREC qrels file (four whitespace-separated columns, no header)."""
    return _table(iter_trec_qrels(path), path, query_ids, doc_ids)


def read_beir_qrels(
    path: Path, query_ids: Container[str] | None = None, doc_ids: Container[str] | None = None
) -> dict[str, dict[str, int]]:
    """qid -> docid -> grade from a BEIR qrels TSV (``query-id<TAB>corpus-id<TAB>score``, header optional)."""
    return _table(iter_beir_qrels(path), path, query_ids, doc_ids)


def _table(rows: Iterator[QrelsRow], path: Path, query_ids: Container[str] | None,
           doc_ids: Container[str] | None) -> Qrels:
    table = QrelsTable(query_ids, doc_ids)
    for line, qid, docid, grade in rows:
        table.add(qid, docid, grade, path, line)
    return table.finish(path)


def _is_header(fields: list[str]) -> bool:
    """A first line whose grade column is not a number but a column name (``query-id corpus-id score``)."""
    if is_integer(fields[2]):
        return False
    return fields[0].lower() in _QUERY_ID_HEADERS or fields[2].lower() in _GRADE_HEADERS


def read_qrels_file(path: Path) -> Qrels:
    """Qrels from a file of either format, told by its first non-blank line: three tab-separated fields are
    BEIR tsv, anything else TREC. Ids are not checked against queries or a corpus."""
    if not path.is_file():
        raise DataError("qrels file not found", path)
    first = next(iter_lines(path), None)  # the generator is dropped (and its file closed) right away
    if first is None:
        raise DataError("no relevance judgments in the file", path)
    if len(first[1].split("\t")) == 3:
        return read_beir_qrels(path)
    return read_trec_qrels(path)
