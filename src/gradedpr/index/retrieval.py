"""End-to-end dense retrieval: encode the corpus, build an index, encode queries, search, produce a run.

* :func:`build_dense_index` encodes a corpus with the passage encoder (streaming into an on-disk store, or
  in memory for small corpora) and builds a :class:`~gradedpr.index.dense.DenseIndex`.
* :func:`retrieve` runs one split's queries against an index (or an in-memory flat index built on the fly,
  which is what the trainer uses for dev evaluation) and returns ``qid -> docid -> score``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from gradedpr.data.ids import IdList
from gradedpr.encode.batching import DEFAULT_MAX_TOKENS, MaxTokens, encode_texts
from gradedpr.encode.fingerprint import PassageSource, corpus_fingerprint, encoder_fingerprint
from gradedpr.encode.sharded import DEFAULT_CHUNK_SIZE, encode_rows, encode_to_store
from gradedpr.encode.store import EmbeddingStore, delete_store
from gradedpr.index.dense import DenseIndex, index_metadata
from gradedpr.index.faiss_build import ArraySource, IndexSpec, VectorSource, build_index
from gradedpr.model.biencoder import BiEncoder
from gradedpr.types import Run
from gradedpr.utils.progress import progress_bar

log = logging.getLogger(__name__)



class QuerySource(Protocol):
    """What :func:`retrieve` needs from a collection."""

    corpus: Any

    def split_queries(self, split: str) -> dict[str, str]: ...


def encode_corpus_in_memory(
    model: BiEncoder,
    corpus: PassageSource,
    batch_size: int = 64,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    show_progress: bool = True,
) -> npt.NDArray[np.float32]:
    """All passage vectors as one array (row order): for corpora that fit in memory."""
    out = np.empty((len(corpus), model.dim), dtype=np.float32)
    was_training = model.training
    model.eval()
    bar = progress_bar(total=len(corpus), desc="encode passages", unit="p", show=show_progress)
    try:
        for start in range(0, len(corpus), chunk_size):
            stop = min(start + chunk_size, len(corpus))
            out[start:stop] = encode_rows(model, corpus, start, stop, batch_size, max_tokens, bar)
    finally:
        bar.close()
        model.train(was_training)
    return out


def build_dense_index(
    model: BiEncoder,
    corpus: PassageSource,
    spec: IndexSpec | None = None,
    *,
    embeddings_dir: str | Path | None = None,
    batch_size: int = 64,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    shard_id: int = 0,
    num_shards: int = 1,
    keep_embeddings: bool = True,
    checkpoint: str | None = None,
    corpus_name: str | None = None,
    show_progress: bool = True,
    use_gpu: bool | None = None,
    overwrite: bool = True,
) -> DenseIndex | None:
    """Encode ``corpus`` and index it (flat by default).

    With ``embeddings_dir`` the vectors stream into an on-disk store there (sharded over ``num_shards``
    processes, resumable, reused when it already holds this encoder's vectors of this corpus); shard 0 then
    merges and builds the index, and the other shards return None. Without it the vectors are kept in memory.
    ``embeddings_dir`` must be empty or a store of gradedpr's; another store there is replaced only with
    ``overwrite``. Without ``keep_embeddings`` only the store's own files are deleted afterwards (the
    directory too if that leaves it empty).
    """
    spec = spec or IndexSpec("flat")
    source: VectorSource
    if embeddings_dir is None:
        identity = {"encoder_fingerprint": encoder_fingerprint(model, "passage"),
                    "corpus_fingerprint": corpus_fingerprint(corpus)}
        source = ArraySource(encode_corpus_in_memory(model, corpus, batch_size, max_tokens, chunk_size,
                                                     show_progress))
    else:
        store = encode_to_store(model, corpus, embeddings_dir, batch_size, shard_id, num_shards, chunk_size,
                                show_progress, max_tokens, keep_shards=False, checkpoint=checkpoint,
                                overwrite=overwrite)
        if store is None:
            return None
        identity = store.meta
        source = store
    built = build_index(source, spec, use_gpu=use_gpu, show_progress=show_progress)
    ids = source.ids if isinstance(source, EmbeddingStore) else corpus.ids
    if not isinstance(ids, IdList):  # a plain sequence may still change: snapshot it (IdLists are immutable)
        ids = list(ids)
    meta = index_metadata(built, model, str(identity["corpus_fingerprint"]), len(corpus), checkpoint,
                          corpus_name, passage_fp=str(identity["encoder_fingerprint"]))
    if embeddings_dir is not None:
        meta["embeddings_dir"] = str(embeddings_dir)
        if not keep_embeddings:
            delete_store(embeddings_dir)
            meta["embeddings_dir"] = None
    return DenseIndex(built.index, ids, meta)


def encode_queries(
    model: BiEncoder,
    queries: Mapping[str, str],
    batch_size: int = 64,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    show_progress: bool = False,
) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Query ids and their embeddings (same order)."""
    qids = list(queries)
    emb = encode_texts(model, [queries[q] for q in qids], "query", batch_size, max_tokens, show_progress)
    return qids, emb


def run_from_results(qids: list[str], scores: npt.NDArray[np.float32], docids: list[list[str]]) -> Run:
    """``qid -> docid -> score`` from search results (scores as Python floats)."""
    run: Run = {}
    for qid, row_scores, row_ids in zip(qids, scores.tolist(), docids, strict=True):
        run[qid] = dict(zip(row_ids, row_scores[: len(row_ids)], strict=True))
    return run


class FlatIndexCache:
    """The last exact in-memory index of a corpus, reused while the passage encoder and the corpus are unchanged.

    Owned by its caller (the trainer's dev evaluation keeps one for a run): with a frozen passage encoder the
    corpus is encoded once, at the cost of hashing the passage encoder's weights at each evaluation.
    """

    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._index: DenseIndex | None = None

    def clear(self) -> None:
        """Forget the index (frees its memory)."""
        self._key, self._index = None, None

    def get(
        self,
        model: BiEncoder,
        corpus: PassageSource,
        batch_size: int = 64,
        max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
        show_progress: bool = True,
    ) -> DenseIndex:
        key = (encoder_fingerprint(model, "passage"), corpus_fingerprint(corpus))
        if self._index is not None and key == self._key:
            log.info("reusing the in-memory index: the passage encoder and the corpus are unchanged")
            return self._index
        self.clear()
        self._index = _flat_index(model, corpus, batch_size, max_tokens, show_progress)
        self._key = key
        return self._index


def _flat_index(model: BiEncoder, corpus: PassageSource, batch_size: int, max_tokens: MaxTokens,
                show_progress: bool) -> DenseIndex:
    """An exact flat index of ``corpus`` encoded in memory by ``model``'s passage encoder."""
    index = build_dense_index(model, corpus, IndexSpec("flat"), batch_size=batch_size, max_tokens=max_tokens,
                              show_progress=show_progress)
    assert index is not None  # one shard: always built here
    return index


def retrieve(
    model: BiEncoder,
    collection: QuerySource,
    split: str,
    k: int = 1000,
    index: DenseIndex | None = None,
    batch_size: int = 64,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    show_progress: bool = True,
    stats: dict[str, Any] | None = None,
    cache: FlatIndexCache | None = None,
) -> Run:
    """Retrieve the top ``k`` passages for every query of ``split``: ``qid -> docid -> score``.

    Without ``index``, the corpus is encoded in memory into an exact flat index first (with ``cache``: only
    when the passage encoder or the corpus changed since the cache's last index). A given index is used as
    is; check it against the model with
    :meth:`DenseIndex.check` (``DenseIndex.load(..., model=...)`` does) before calling this.
    ``stats`` receives search timing (``seconds``, ``qps``) and the number of queries.
    """
    queries = collection.split_queries(split)
    if index is None:
        if cache is not None:
            index = cache.get(model, collection.corpus, batch_size, max_tokens, show_progress)
        else:
            index = _flat_index(model, collection.corpus, batch_size, max_tokens, show_progress)
    qids, emb = encode_queries(model, queries, batch_size, max_tokens, show_progress)
    scores, docids = index.search(emb, k, show_progress=show_progress, stats=stats)
    return run_from_results(qids, scores, docids)
