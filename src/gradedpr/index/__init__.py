"""Vectors -> rankings: FAISS index build / save / load (flat, HNSW, IVF-PQ, any factory string), batched
search, and :func:`retrieve` (a split's queries -> a run ``qid -> docid -> score``)."""

from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import INDEX_TYPES, IndexSpec, build_index
from gradedpr.index.retrieval import build_dense_index, encode_queries, retrieve
from gradedpr.index.search import search

__all__ = [
    "INDEX_TYPES",
    "DenseIndex",
    "IndexSpec",
    "build_dense_index",
    "build_index",
    "encode_queries",
    "retrieve",
    "search",
]
