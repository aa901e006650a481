"""Dense retrieval: streaming sharded corpus encoding, FAISS indexes (flat, HNSW, IVF-PQ, factory), search.

Main entry points:

* :func:`encode_corpus` / :func:`merge_shards` / :func:`encode_to_store`: passages -> on-disk float32 store;
* :func:`build_dense_index`: model + corpus -> :class:`DenseIndex` (saved / loaded with fingerprint checks);
* :func:`search`: batched FAISS search with progress and queries per second;
* :func:`retrieve`: one split's queries -> run (``qid -> docid -> score``).
"""

from gradedpr.retrieval.batching import DEFAULT_MAX_TOKENS, encode_texts
from gradedpr.retrieval.dense_index import DenseIndex
from gradedpr.retrieval.embeddings import EmbeddingStore
from gradedpr.retrieval.encode import DEFAULT_CHUNK_SIZE, encode_corpus, encode_to_store, merge_shards
from gradedpr.retrieval.faiss_index import INDEX_TYPES, IndexSpec, build_index
from gradedpr.retrieval.fingerprint import corpus_fingerprint, encoder_fingerprint
from gradedpr.retrieval.pipeline import build_dense_index, encode_queries, retrieve
from gradedpr.retrieval.search import search

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_TOKENS",
    "INDEX_TYPES",
    "DenseIndex",
    "EmbeddingStore",
    "IndexSpec",
    "build_dense_index",
    "build_index",
    "corpus_fingerprint",
    "encode_corpus",
    "encode_queries",
    "encode_texts",
    "encode_to_store",
    "encoder_fingerprint",
    "merge_shards",
    "retrieve",
    "search",
]
