"""TREC run files: write and read with validation (qrels files are read by :mod:`gradedpr.data.qrels`).

Run file line: ``qid Q0 docid rank score tag`` (six whitespace-separated columns).

The writer orders every query's documents exactly as trec_eval 9.0.8 ranks them (see ``ranking_order``): score
descending compared as float32, ties by docid in descending string order. It prints the float32 value of each
score with ``%.9g`` (nine significant digits identify a float32 uniquely: the number read back rounds to
exactly that float32, and distinct float32 values print as distinct, equally ordered decimals), so the rank
column, the order of lines and the scores agree for every trec_eval version (9.0.8 compares float32, 10.x
compares doubles; equal printed scores tie in both, and both then break the tie by docid).

The reader rejects bad input with ``DataError(message, path, line)``; they never return silently wrong data.
Blank lines are skipped; a UTF-8 byte order mark at the start of a file is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from pathlib import Path

import numpy as np

from gradedpr.data.validation import iter_lines
from gradedpr.errors import DataError
from gradedpr.types import Run
from gradedpr.utils.atomic import atomic_open

_RUN_COLUMNS = 6


def ranking_order(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """Documents of one query in trec_eval 9.0.8 rank order, each with its score rounded to float32.

    Score descending after conversion to float32 (so 0.9 and 0.900000001 tie), ties broken by docid in
    descending string order. Raises ``ValueError`` on a NaN score, which has no rank.
    """
    ids = list(docs.keys())
    scores = np.fromiter(docs.values(), dtype=np.float64, count=len(ids))
    if np.isnan(scores).any():
        bad = ids[int(np.flatnonzero(np.isnan(scores))[0])]
        raise ValueError(f"score of document {bad!r} is NaN")
    scores32 = (scores.astype(np.float32) + np.float32(0.0)).tolist()  # + 0.0 turns -0.0 into 0.0
    ranked = sorted(zip(scores32, ids, strict=True), reverse=True)
    return [(doc, score) for score, doc in ranked]


def trec_token(text: str, default: str = "gradedpr") -> str:
    """``text`` as one TREC column (a run tag made of a directory or checkpoint name): every run of whitespace
    becomes ``_``; empty gives ``default``."""
    return "_".join(text.split()) or default


def _check_token(value: str, what: str) -> None:
    if not value or any(ch.isspace() for ch in value):
        raise ValueError(f"{what} {value!r} is empty or contains whitespace; TREC files cannot hold it")


def write_trec_run(
    path: str | Path, run: Mapping[str, Mapping[str, float]], tag: str = "gradedpr", k: int | None = None
) -> None:
    """Write ``run`` atomically as a TREC run file.

    Queries keep the mapping's order; within a query documents follow ``ranking_order``; ranks start at 1.
    ``k`` keeps only the top ``k`` documents of each query (after ranking). Scores are written as their
    float32 value with ``%.9g`` (exact for float32; see the module docstring). Raises ``ValueError`` for an
    empty or whitespace-containing qid, docid or tag, a NaN score, or ``k < 1``.
    """
    _check_token(tag, "run tag")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    with atomic_open(path, "w") as handle:
        for qid, docs in run.items():
            _check_token(qid, "query id")
            ranked = ranking_order(docs)
            if k is not None:
                ranked = ranked[:k]
            lines = []
            for rank, (doc, score) in enumerate(ranked, start=1):
                _check_token(doc, "document id")
                lines.append(f"{qid} Q0 {doc} {rank} {score:.9g} {tag}\n")
            handle.write("".join(lines))


def _parse_score(text: str) -> float | None:
    """``float(text)``, or None if it is not a plain ASCII decimal/exponent number.

    Python's ``float`` also accepts ``1_0`` and digits of other scripts (Arabic-Indic U+0661, full-width
    U+FF11, ...), which trec_eval's ``atof`` does not read as numbers: both are refused.
    """
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_trec_run(path: str | Path, doc_ids: Container[str] | None = None) -> Run:
    """Read a TREC run file (``qid Q0 docid rank score tag``) into qid -> docid -> score.

    Every line must have exactly six columns and a numeric, non-NaN score written in ASCII (``inf`` is
    accepted); a (qid, docid) pair may occur only once; the file must hold at least one result. With
    ``doc_ids`` (e.g. the corpus), every document must be in it. The rank, ``Q0`` and tag columns are not
    interpreted (trec_eval ignores them too: it ranks by score). Violations raise
    ``DataError(message, path, line)``. Queries and documents keep file order.
    """
    source = Path(path)
    run: Run = {}
    for number, line in iter_lines(source):
        columns = line.split()
        if len(columns) != _RUN_COLUMNS:
            raise DataError(
                f"expected 6 columns 'qid Q0 docid rank score tag', found {len(columns)}", source, number
            )
        qid, _, doc, _, score_text, _ = columns
        score = _parse_score(score_text)
        if score is None:
            what = "is not a number" if score_text.isascii() else "is not a number written in ASCII digits"
            raise DataError(f"score {score_text!r} {what}", source, number)
        if math.isnan(score):
            raise DataError("score is NaN", source, number)
        docs = run.setdefault(qid, {})
        if doc in docs:
            raise DataError(f"duplicate document {doc!r} for query {qid!r}", source, number)
        if doc_ids is not None and doc not in doc_ids:
            raise DataError(f"document {doc!r} (query {qid!r}) is not in the corpus", source, number)
        docs[doc] = score
    if not run:
        raise DataError("run file holds no results", source)
    return run
