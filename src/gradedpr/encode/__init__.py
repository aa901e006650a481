"""Texts -> vectors: one encoding loop (token-budget batching), the streaming sharded on-disk store, and the
fingerprints that tie a store (and an index built from it) to the encoder and corpus that produced it."""

from gradedpr.encode.batching import DEFAULT_MAX_TOKENS, encode_texts
from gradedpr.encode.fingerprint import corpus_fingerprint, encoder_fingerprint
from gradedpr.encode.sharded import DEFAULT_CHUNK_SIZE, encode_corpus, encode_to_store, merge_shards
from gradedpr.encode.store import EmbeddingStore

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_TOKENS",
    "EmbeddingStore",
    "corpus_fingerprint",
    "encode_corpus",
    "encode_texts",
    "encode_to_store",
    "encoder_fingerprint",
    "merge_shards",
]
