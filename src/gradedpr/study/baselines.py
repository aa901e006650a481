"""The study's reference rows: BM25 (``bm25s``) and the zero-shot start model, as run files with per-query values."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from gradedpr.data.collection import Collection
from gradedpr.types import Run


def bm25_run(collection: Collection, queries: Mapping[str, str], k: int = 1000) -> Run:
    """BM25 (Robertson et al. 1994; ``bm25s`` defaults k1 = 1.5, b = 0.75, English stopwords and the Snowball
    English stemmer, as BEIR's BM25 stems) top-``k`` run of ``queries``."""
    import bm25s
    import Stemmer

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    stemmer = Stemmer.Stemmer("english")
    corpus = collection.corpus
    texts = [text for _, batch in corpus.iter_batches(4096) for text in batch]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    qids = list(queries)
    tokens = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False)
    rows, scores = retriever.retrieve(tokens, k=min(k, len(texts)), show_progress=False, n_threads=0)
    run: Run = {}
    for qid, hits, values in zip(qids, np.asarray(rows), np.asarray(scores), strict=True):
        docids = corpus.ids.take(hits)
        run[qid] = {d: float(s) for d, s in zip(docids, values.tolist(), strict=True) if s > 0}
    return run
