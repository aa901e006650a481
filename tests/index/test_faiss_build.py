"""FAISS index types: flat is exact; HNSW and IVF-PQ find most true neighbours on clustered data."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from corpus_helpers import clustered_vectors, recall_at
from gradedpr.encode.store import EmbeddingStore
from gradedpr.index.faiss_build import (
    ArraySource,
    IndexSpec,
    build_index,
    reserve_codes,
    resolve_params,
    training_sample,
    wants_gpu,
)
from gradedpr.index.search import search

N, DIM = 4000, 32


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = clustered_vectors(N, DIM, clusters=40, seed=0)
    queries = clustered_vectors(200, DIM, clusters=40, seed=0)[:200] + 0.0
    truth = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")
    return vectors, queries, truth


def test_flat_is_exact(data: tuple) -> None:
    vectors, queries, truth = data
    built = build_index(vectors, IndexSpec("flat"), show_progress=False, add_chunk=999)
    assert built.index.ntotal == N and built.factory == "Flat"
    scores, ids = search(built.index, queries, 10, batch_size=64, show_progress=False)
    brute = queries @ vectors.T
    np.testing.assert_allclose(scores, np.take_along_axis(brute, ids, axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores, -np.sort(-brute, axis=1)[:, :10], rtol=1e-5, atol=1e-5)
    assert recall_at(ids, truth, 10) > 0.999  # ties aside, the same documents


@pytest.mark.parametrize(
    ("spec", "minimum"),
    [
        (IndexSpec("hnsw", {"M": 16, "ef_construction": 80, "ef_search": 64}), 0.95),
        (IndexSpec("ivfpq", {"nlist": 32, "m": 16, "nprobe": 8}), 0.7),  # PQ codes blur near neighbours
        (IndexSpec("factory", {"factory": "IVF32,Flat", "search_params": "nprobe=8"}), 0.9),
    ],
)
def test_approximate_indexes_have_reasonable_recall(data: tuple, spec: IndexSpec, minimum: float) -> None:
    vectors, queries, truth = data
    built = build_index(vectors, spec, show_progress=False, add_chunk=1000)
    assert built.index.ntotal == N
    _, ids = search(built.index, queries, 10, show_progress=False)
    assert recall_at(ids, truth, 10) >= minimum


def test_search_parameters_are_applied(data: tuple) -> None:
    vectors, _, _ = data
    hnsw = build_index(vectors[:500], IndexSpec("hnsw", {"ef_search": 77}), show_progress=False)
    assert faiss.downcast_index(hnsw.index).hnsw.efSearch == 77 and hnsw.search_parameters == "efSearch=77"
    ivf = build_index(vectors, IndexSpec("ivfpq", {"nlist": 16, "m": 4, "nprobe": 5}), show_progress=False)
    assert faiss.extract_index_ivf(ivf.index).nprobe == 5
    assert ivf.factory == "IVF16,PQ4x8"


def test_resolve_params_fills_in_and_clamps() -> None:
    params = resolve_params(IndexSpec("ivfpq"), 1_000_000, 384)
    assert params["nlist"] == 4000 and params["m"] == 48 and params["nbits"] == 8
    assert params["train_size"] == 200_000
    small = resolve_params(IndexSpec("ivfpq", {"nprobe": 64}), 100, 32)
    assert small["nlist"] == 2 and small["m"] == 4 and small["nprobe"] == 2
    assert small["nbits"] == 6 and small["train_size"] == 100  # 2^nbits <= training points
    with pytest.raises(ValueError, match="must divide"):
        resolve_params(IndexSpec("ivfpq", {"m": 5}), 1000, 32)


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="unknown index type"):
        IndexSpec("annoy")
    with pytest.raises(ValueError, match="unknown parameter"):
        IndexSpec("hnsw", {"nprobe": 3})
    with pytest.raises(ValueError, match="factory string"):
        IndexSpec("factory")
    assert IndexSpec.from_config({"type": "hnsw", "M": 8}).params["M"] == 8
    with pytest.raises(ValueError, match="cannot build"):
        build_index(np.zeros((10, 8), np.float32), IndexSpec("factory", {"factory": "Nonsense7"}), show_progress=False)


def test_training_sample_draws_distinct_rows(data: tuple) -> None:
    vectors, _, _ = data
    sample = training_sample(ArraySource(vectors), 300, seed=1)
    rows = {tuple(r) for r in vectors.tolist()}
    assert sample.shape == (300, DIM) and all(tuple(r) in rows for r in sample.tolist())
    assert len({tuple(r) for r in sample.tolist()}) == 300


def test_no_gpu_on_this_machine() -> None:
    assert not wants_gpu(IndexSpec("flat"))  # faiss-cpu: everything stays on CPU


def test_build_from_an_embedding_store(tmp_path, data: tuple) -> None:  # type: ignore[no-untyped-def]
    vectors, queries, _ = data
    (tmp_path / "embeddings.f32").write_bytes(vectors.tobytes())
    (tmp_path / "ids.txt").write_text("".join(f"d{i}\n" for i in range(N)))
    (tmp_path / "embeddings.json").write_text(f'{{"rows": {N}, "dim": {DIM}}}')
    store = EmbeddingStore.open(tmp_path)
    built = build_index(store, IndexSpec("flat"), show_progress=False, add_chunk=1500)
    expected = build_index(vectors, IndexSpec("flat"), show_progress=False)
    assert np.array_equal(search(built.index, queries, 5, show_progress=False)[1],
                          search(expected.index, queries, 5, show_progress=False)[1])


def test_reserved_code_array_is_filled_in_place(data: tuple) -> None:
    vectors = data[0][:300]
    flat = faiss.IndexFlatIP(DIM)
    assert reserve_codes(flat, len(vectors)) and flat.ntotal == 0 and flat.codes.size() == 0
    for start in range(0, len(vectors), 64):
        flat.add(vectors[start : start + 64])
    assert flat.ntotal == len(vectors) and np.array_equal(flat.reconstruct_n(0, len(vectors)), vectors)
    assert reserve_codes(faiss.IndexHNSWFlat(DIM, 8), 10)  # its flat storage
    assert not reserve_codes(flat, 10)  # not empty any more
    assert not reserve_codes(faiss.IndexIVFPQ(faiss.IndexFlatIP(DIM), DIM, 4, 4, 8), 10)  # codes live in lists
