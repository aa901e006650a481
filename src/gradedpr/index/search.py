"""Batched k-nearest-neighbour search over a FAISS index with a progress bar and a queries-per-second count."""

from __future__ import annotations

import logging
import time
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from gradedpr.utils.progress import progress_bar

log = logging.getLogger(__name__)

DEFAULT_SEARCH_BATCH = 1024


def search(
    index: faiss.Index,
    query_emb: npt.NDArray[np.float32],
    k: int,
    batch_size: int = DEFAULT_SEARCH_BATCH,
    show_progress: bool = True,
    stats: dict[str, Any] | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Top-``k`` inner-product scores and row ids (``[nq, k]``, best first) of every query row.

    ``k`` is capped at the number of indexed vectors; rows FAISS could not fill (possible with approximate
    indexes) have id -1 and score -inf. ``stats``, if given, receives ``seconds`` and ``qps``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    queries = np.ascontiguousarray(query_emb, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != index.d:
        raise ValueError(f"query embeddings have shape {queries.shape}; the index holds {index.d}-dim vectors")
    k = min(k, max(int(index.ntotal), 1))
    scores = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    bar = progress_bar(total=len(queries), desc="search", unit="q", show=show_progress)
    began = time.perf_counter()
    try:
        for start in range(0, len(queries), batch_size):
            block = queries[start : start + batch_size]
            scores[start : start + len(block)], ids[start : start + len(block)] = index.search(block, k)
            bar.update(len(block))
    finally:
        bar.close()
    seconds = time.perf_counter() - began
    qps = len(queries) / seconds if seconds > 0 else float("inf")
    missing = ids < 0
    if missing.any():
        scores[missing] = -np.inf
    log.info("searched %d queries (k=%d) in %.2fs: %.1f queries/s", len(queries), k, seconds, qps)
    if stats is not None:
        stats.update({"seconds": round(seconds, 4), "qps": round(qps, 2), "queries": len(queries), "k": k})
    return scores, ids
