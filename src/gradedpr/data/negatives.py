"""Where a training group's negatives come from: random documents, BM25 (``bm25s``), or a TREC run file.

Every source answers ``candidates(qid)``: a ranked list of document ids to draw negatives from. The sampler
drops the query's judged-relevant documents from it, so a source may return them freely.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from gradedpr.data.corpus import Corpus
from gradedpr.data.runs import read_trec_run
from gradedpr.errors import DataError
from gradedpr.utils.progress import on_terminal


class NegativeSource(Protocol):
    """Ranked negative candidates per query; an empty list means "draw at random"."""

    name: str

    def candidates(self, qid: str) -> Sequence[str]: ...


class RandomNegatives:
    """No mined candidates: the sampler draws negatives uniformly from the corpus."""

    name = "random"

    def candidates(self, qid: str) -> Sequence[str]:
        return ()


class PrecomputedNegatives:
    """Candidates given up front: qid -> ranked doc ids (BM25 results, a run file, DPR hard negatives)."""

    def __init__(self, ranked: Mapping[str, Sequence[str]], name: str) -> None:
        self.ranked = {qid: list(docs) for qid, docs in ranked.items()}
        self.name = name

    def candidates(self, qid: str) -> Sequence[str]:
        return self.ranked.get(qid, ())


def bm25_negatives(corpus: Corpus, queries: Mapping[str, str], depth: int = 100) -> PrecomputedNegatives:
    """Top-``depth`` BM25 documents of every query (Robertson et al. 1994; the ``bm25s`` implementation)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs index building at DEBUG
    texts = [text for _, batch in corpus.iter_batches(4096) for text in batch]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    qids = list(queries)
    depth = min(depth, len(texts))
    ranked: dict[str, list[str]] = {}
    for start in tqdm(range(0, len(qids), 512), desc="bm25 negatives", unit="batch", leave=False,
                      disable=not on_terminal()):
        chunk = qids[start : start + 512]
        tokens = bm25s.tokenize([queries[q] for q in chunk], stopwords="en", show_progress=False)
        rows, _ = retriever.retrieve(tokens, k=depth, show_progress=False, n_threads=0)
        for qid, hits in zip(chunk, np.asarray(rows), strict=True):
            ranked[qid] = corpus.ids.take(hits)
    return PrecomputedNegatives(ranked, name="bm25")


def run_file_negatives(path: str | Path, corpus: Corpus, depth: int = 100) -> PrecomputedNegatives:
    """Hard negatives from a TREC run file (``qid Q0 docid rank score tag``), top ``depth`` by score."""
    run = read_trec_run(path)
    ranked: dict[str, list[str]] = {}
    for qid, docs in run.items():
        unknown = [d for d in docs if d not in corpus]
        if unknown:
            raise DataError(f"run file names document {unknown[0]!r} (query {qid}) that is not in the corpus", path)
        ordered = sorted(docs.items(), key=lambda item: (-item[1], item[0]))
        ranked[qid] = [docid for docid, _ in ordered[:depth]]
    return PrecomputedNegatives(ranked, name="run")


def build_negative_source(
    kind: str,
    corpus: Corpus,
    queries: Mapping[str, str],
    *,
    depth: int = 100,
    run_file: str | None = None,
    data_negatives: Mapping[str, Sequence[str]] | None = None,
) -> NegativeSource:
    """``kind`` is ``random`` | ``bm25`` | ``run`` (needs ``run_file``) | ``data`` (hard negatives in the data)."""
    if kind == "random":
        return RandomNegatives()
    if kind == "bm25":
        return bm25_negatives(corpus, queries, depth)
    if kind == "run":
        if not run_file:
            raise ValueError("negatives.source=run needs negatives.run_file=<TREC run file>")
        return run_file_negatives(run_file, corpus, depth)
    if kind == "data":
        return PrecomputedNegatives(data_negatives or {}, name="data")
    raise ValueError(f"unknown negatives source {kind!r}; use random, bm25, run or data")
