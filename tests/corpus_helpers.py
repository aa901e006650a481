"""Small synthetic corpora and vectors for the encode and index tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from gradedpr.data.corpus import Corpus

WORDS = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
    "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "apple",
    "banana", "cherry", "date", "elder", "fig", "grape",
]


def random_texts(n: int, seed: int = 0, max_words: int = 40) -> list[str]:
    """``n`` texts of 1..max_words random words (very different token lengths)."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, max_words + 1)))) for _ in range(n)]


def random_corpus(n: int, seed: int = 0) -> Corpus:
    texts = random_texts(n, seed)
    titles = ["" if i % 3 else f"title {i}" for i in range(n)]
    return Corpus.from_lists([f"doc{i}" for i in range(n)], titles, texts)


def clustered_vectors(n: int, dim: int, clusters: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Unit vectors around ``clusters`` random centres (what trained embeddings look like, roughly)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    points = centres[rng.integers(0, clusters, size=n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def recall_at(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64], k: int) -> float:
    """Mean share of the true top-k found in the returned top-k."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / k


def plain_encode(model: Any, texts: list[str], kind: str) -> npt.NDArray[np.float32]:
    """An independent reference for the encoding loop: one text per forward pass, no batching or sorting."""
    import torch

    encode = model.encode_queries if kind == "query" else model.encode_passages
    was_training = model.training
    model.eval()
    with torch.no_grad():
        rows = [encode(model.tokenize([text], kind)).float().cpu().numpy()[0] for text in texts]
    model.train(was_training)
    return np.stack(rows).astype(np.float32)
