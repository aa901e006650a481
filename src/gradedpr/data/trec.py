"""Reader for TREC qrels files: ``qid iteration docid grade``, four whitespace-separated columns, no header.

The iteration column (usually ``0`` or ``Q0``) is ignored, as trec_eval ignores it. The TREC loader takes its
corpus and queries from the BEIR readers (:mod:`gradedpr.data.beir`): ``corpus.jsonl`` and ``queries.jsonl``
or a ``queries.tsv`` of ``id<TAB>text`` lines.
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path

from gradedpr.data.validation import QrelsTable, iter_lines, parse_grade
from gradedpr.errors import DataError


def read_trec_qrels(
    path: Path, query_ids: Container[str], doc_ids: Container[str]
) -> dict[str, dict[str, int]]:
    """qid -> docid -> grade from a TREC qrels file."""
    table = QrelsTable(query_ids, doc_ids)
    for line, content in iter_lines(path):
        fields = content.split()
        if len(fields) != 4:
            raise DataError(
                f"expected 4 whitespace-separated columns (qid iteration docid grade), got {len(fields)}",
                path,
                line,
            )
        qid, _, docid, grade = fields
        table.add(qid, docid, parse_grade(grade, path, line), path, line)
    return table.finish(path)
