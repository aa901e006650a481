"""Index directories: round trip, refusal of another encoder or corpus, atomic replacement; retrieve()."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest
import torch

import gradedpr.index.dense as dense_index_module
import gradedpr.index.retrieval as pipeline_module
from corpus_helpers import random_corpus
from gradedpr.data.collection import Collection
from gradedpr.encode.batching import encode_texts
from gradedpr.errors import CheckpointError
from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import FlatIndexCache, build_dense_index, retrieve
from gradedpr.index.search import search
from gradedpr.model.biencoder import BiEncoder


@pytest.fixture(scope="module")
def corpus():  # type: ignore[no-untyped-def]
    return random_corpus(120, seed=9)


@pytest.fixture(scope="module")
def saved(tiny_model: BiEncoder, corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    index = build_dense_index(tiny_model, corpus, IndexSpec("hnsw", {"M": 8}), checkpoint="tiny",
                              corpus_name="random", show_progress=False)
    assert index is not None
    return index.save(tmp_path_factory.mktemp("idx") / "index")


def test_round_trip(saved: Path, tiny_model: BiEncoder, corpus) -> None:  # type: ignore[no-untyped-def]
    loaded = DenseIndex.load(saved, model=tiny_model, corpus=corpus)
    assert sorted(p.name for p in saved.iterdir()) == ["ids.txt", "index.faiss", "index.json"]
    meta = loaded.meta
    assert meta["dim"] == tiny_model.dim and meta["metric"] == "inner_product" and meta["num_vectors"] == 120
    assert meta["index"]["type"] == "hnsw" and meta["index"]["params"]["M"] == 8
    assert meta["encoder"]["checkpoint"] == "tiny" and meta["encoder"]["settings"]["pooling"] == "mean"
    assert meta["corpus"] == {"name": "random", "fingerprint": meta["corpus"]["fingerprint"], "num_passages": 120}
    assert loaded.ids == corpus.ids
    vectors = encode_texts(tiny_model, corpus.texts(list(range(120))), "passage")
    scores, docids = loaded.search(vectors[:5], 3)
    assert [d[0] for d in docids] == corpus.ids[:5]  # each passage finds itself first
    assert scores.shape == (5, 3)
    assert faiss.downcast_index(loaded.index).hnsw.efSearch == 128
    tuned = DenseIndex.load(saved, search_parameters="efSearch=16")
    assert faiss.downcast_index(tuned.index).hnsw.efSearch == 16


def test_another_encoder_is_refused(saved: Path, tiny_model_dir: Path) -> None:
    other = BiEncoder.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        other.passage_encoder.encoder.layer[0].output.dense.bias += 0.01
    with pytest.raises(CheckpointError, match=r"passage encoder.*different weights"):
        DenseIndex.load(saved, model=other)
    longer = BiEncoder.from_pretrained(tiny_model_dir, passage_max_length=64)
    with pytest.raises(CheckpointError, match=r"max_length 128 -> 64"):
        DenseIndex.load(saved, model=longer)
    assert DenseIndex.load(saved, model=other, allow_mismatch=True).ids  # explicit override: only a warning
    query_only = BiEncoder.from_pretrained(tiny_model_dir)  # a changed query encoder is fine
    with torch.no_grad():
        query_only.query_encoder.encoder.layer[0].output.dense.bias += 0.01
    DenseIndex.load(saved, model=query_only)


def test_another_corpus_is_refused(saved: Path) -> None:
    with pytest.raises(CheckpointError, match="corpus: the index covers 'random'"):
        DenseIndex.load(saved, corpus=random_corpus(120, seed=10))
    with pytest.raises(CheckpointError, match="not an index directory"):
        DenseIndex.load(saved.parent / "missing")


def test_save_is_atomic(saved: Path, tiny_model: BiEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    index = DenseIndex.load(saved)

    def failing_write(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(dense_index_module, "write_ids", failing_write)
    with pytest.raises(OSError, match="disk full"):
        index.save(saved)
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no temporary left behind


def test_search_caps_k_and_validates(saved: Path) -> None:
    index = DenseIndex.load(saved)
    queries = np.random.default_rng(0).standard_normal((3, index.index.d)).astype(np.float32)
    stats: dict = {}
    scores, _ = search(index.index, queries, 1000, show_progress=False, stats=stats)
    assert scores.shape == (3, 120) and stats["queries"] == 3 and stats["k"] == 120 and stats["qps"] > 0
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    with pytest.raises(ValueError, match="shape"):
        search(index.index, queries[:, :4], 5, show_progress=False)


def test_retrieve_builds_a_flat_index_in_memory(tiny_model: BiEncoder, corpus) -> None:  # type: ignore[no-untyped-def]
    texts = corpus.texts(list(range(10)))
    queries = {f"q{i}": " ".join(text.split()[:8]) for i, text in enumerate(texts)}
    collection = Collection("random", corpus, queries, {"test": {q: {corpus.ids[i]: 1} for i, q in
                                                                 enumerate(queries)}})
    run = retrieve(tiny_model, collection, "test", k=50, batch_size=4, show_progress=False)
    assert list(run) == list(queries) and all(len(docs) == 50 for docs in run.values())
    flat = build_dense_index(tiny_model, corpus, batch_size=4, show_progress=False)
    assert flat is not None
    assert retrieve(tiny_model, collection, "test", k=50, index=flat, batch_size=4, show_progress=False) == run
    q_emb = encode_texts(tiny_model, list(queries.values()), "query")
    p_emb = encode_texts(tiny_model, corpus.texts(list(range(len(corpus)))), "passage")
    best = (q_emb @ p_emb.T).argmax(axis=1)
    assert [max(docs, key=docs.__getitem__) for docs in run.values()] == [corpus.ids[b] for b in best]


def test_retrieve_reuses_the_corpus_encoding_while_the_passage_encoder_is_unchanged(
    tiny_model_dir: Path, corpus, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir)
    queries = {"q0": "alpha beta", "q1": "gamma"}
    collection = Collection("random", corpus, queries, {"dev": {"q0": {"doc1": 1}, "q1": {"doc2": 1}}})
    builds: list[int] = []
    cache = FlatIndexCache()
    real = pipeline_module.build_dense_index
    monkeypatch.setattr(pipeline_module, "build_dense_index", lambda *a, **k: builds.append(1) or real(*a, **k))
    first = retrieve(model, collection, "dev", k=5, show_progress=False, cache=cache)
    with torch.no_grad():  # a query-side update (frozen passage encoder): the corpus is not encoded again
        model.query_encoder.encoder.layer[1].output.dense.bias += 0.05
    second = retrieve(model, collection, "dev", k=5, show_progress=False, cache=cache)
    assert len(builds) == 1 and second != first
    with torch.no_grad():  # a passage-side update: encoded again
        model.passage_encoder.encoder.layer[1].output.dense.bias += 0.05
    retrieve(model, collection, "dev", k=5, show_progress=False, cache=cache)
    retrieve(model, collection, "dev", k=5, show_progress=False)  # no cache: always encoded
    assert len(builds) == 3
