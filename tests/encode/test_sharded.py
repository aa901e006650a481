"""Streaming sharded corpus encoding: equality with BiEncoder.encode, shards + merge, resumption."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import gradedpr.encode.sharded as encode_module
from corpus_helpers import random_corpus
from gradedpr.encode.batching import encode_texts
from gradedpr.encode.sharded import (
    SHARDS_DIR,
    encode_corpus,
    encode_to_store,
    merge_shards,
    shard_bounds,
    shard_name,
    store_identity,
)
from gradedpr.encode.store import EmbeddingStore
from gradedpr.errors import CheckpointError
from gradedpr.model.biencoder import BiEncoder


@pytest.fixture(scope="module")
def corpus_and_reference(tiny_model: BiEncoder) -> tuple:
    corpus = random_corpus(230, seed=5)
    reference = encode_texts(tiny_model, corpus.texts(list(range(len(corpus)))), "passage", batch_size=32)
    return corpus, reference


def test_shard_bounds_cover_all_rows() -> None:
    for n in (0, 1, 7, 100):
        for shards in (1, 2, 3, 8):
            bounds = [shard_bounds(n, i, shards) for i in range(shards)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    with pytest.raises(ValueError):
        shard_bounds(10, 2, 2)


def test_encode_and_merge_equals_model_encode(tiny_model: BiEncoder, corpus_and_reference: tuple,
                                              tmp_path: Path) -> None:
    corpus, reference = corpus_and_reference
    store = encode_to_store(tiny_model, corpus, tmp_path / "emb", batch_size=32, chunk_size=64,
                            show_progress=False)
    assert store is not None
    assert store.ids == corpus.ids and store.num_rows == len(corpus) and store.dim == tiny_model.dim
    np.testing.assert_allclose(store.load(), reference, atol=2e-5)
    np.testing.assert_array_equal(np.asarray(store.memmap()), store.load())
    assert not (tmp_path / "emb" / SHARDS_DIR).exists()  # shards are cleaned up after the merge
    reopened = EmbeddingStore.open(tmp_path / "emb", {"corpus_fingerprint": store.meta["corpus_fingerprint"]})
    chunks = list(reopened.iter_chunks(100))
    assert [start for start, _ in chunks] == [0, 100, 200]
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), store.load())


def test_sharded_encoding_merges_to_the_unsharded_result(tiny_model: BiEncoder, corpus_and_reference: tuple,
                                                         tmp_path: Path) -> None:
    corpus, reference = corpus_and_reference
    identity = store_identity(tiny_model, corpus)
    for shard in (2, 0, 1):  # any order, as independent processes would finish
        path = encode_corpus(tiny_model, corpus, tmp_path / "emb", batch_size=16, shard_id=shard, num_shards=3,
                             chunk_size=50, show_progress=False, identity=identity)
        assert path == tmp_path / "emb" / SHARDS_DIR / shard_name(shard, 3)
        meta = json.loads((path / "shard.json").read_text())
        assert (meta["start"], meta["stop"]) == shard_bounds(len(corpus), shard, 3)
    store = merge_shards(tmp_path / "emb", 3, identity)
    assert store.ids == corpus.ids
    np.testing.assert_allclose(store.load(), reference, atol=2e-5)


def test_merge_refuses_missing_shards(tiny_model: BiEncoder, corpus_and_reference: tuple, tmp_path: Path) -> None:
    corpus, _ = corpus_and_reference
    identity = store_identity(tiny_model, corpus)
    encode_corpus(tiny_model, corpus, tmp_path, shard_id=0, num_shards=2, show_progress=False, identity=identity)
    with pytest.raises(CheckpointError, match=r"shards \[1\]"):
        merge_shards(tmp_path, 2, identity)
    assert not EmbeddingStore.is_complete(tmp_path)


def test_interrupted_encoding_resumes_after_completed_chunks(
    tiny_model: BiEncoder, corpus_and_reference: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, reference = corpus_and_reference
    real = encode_module.encode_rows
    calls: list[tuple[int, int]] = []

    def crash_on_third(model, corpus, start, stop, *args, **kwargs):  # type: ignore[no-untyped-def]
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        calls.append((start, stop))
        return real(model, corpus, start, stop, *args, **kwargs)

    monkeypatch.setattr(encode_module, "encode_rows", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(tiny_model, corpus, tmp_path, batch_size=16, chunk_size=40, show_progress=False)
    assert calls == [(0, 40), (40, 80)]
    partial = tmp_path / SHARDS_DIR / f".{shard_name(0, 1)}.partial"
    assert json.loads((partial / "progress.json").read_text())["done"] == [0, 1]
    assert not (tmp_path / SHARDS_DIR / shard_name(0, 1)).exists()

    calls.clear()
    monkeypatch.setattr(encode_module, "encode_rows", lambda *a, **k: calls.append(a[2:4]) or real(*a, **k))
    # a different chunk size on restart: the recorded one is kept so the recorded chunks stay valid
    encode_corpus(tiny_model, corpus, tmp_path, batch_size=16, chunk_size=999, show_progress=False)
    assert calls == [(80, 120), (120, 160), (160, 200), (200, 230)]
    store = merge_shards(tmp_path, 1, store_identity(tiny_model, corpus))
    np.testing.assert_allclose(store.load(), reference, atol=2e-5)

    calls.clear()  # a complete store is not encoded again
    encode_corpus(tiny_model, corpus, tmp_path, chunk_size=40, show_progress=False)
    assert calls == []


def test_parts_of_another_encoding_are_discarded(tiny_model: BiEncoder, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = random_corpus(60, seed=1), random_corpus(60, seed=2)
    encode_to_store(tiny_model, first, tmp_path, chunk_size=16, show_progress=False)
    store = encode_to_store(tiny_model, second, tmp_path, chunk_size=16, show_progress=False)
    assert store is not None and store.meta["corpus_fingerprint"] == store_identity(tiny_model, second)[
        "corpus_fingerprint"]
    expected = encode_texts(tiny_model, second.texts(list(range(60))), "passage")
    np.testing.assert_allclose(store.load(), expected, atol=2e-5)
    with pytest.raises(CheckpointError, match="something else"):
        EmbeddingStore.open(tmp_path, store_identity(tiny_model, first))


def test_truncated_store_is_rejected(tiny_model: BiEncoder, tmp_path: Path) -> None:
    corpus = random_corpus(20)
    encode_to_store(tiny_model, corpus, tmp_path, show_progress=False)
    with open(tmp_path / "embeddings.f32", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(CheckpointError, match="inconsistent"):
        EmbeddingStore.open(tmp_path)
