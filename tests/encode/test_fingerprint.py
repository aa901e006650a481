"""Fingerprints: stable for equal content, different for different weights / settings / corpora."""

from __future__ import annotations

from pathlib import Path

import datasets
import torch

from corpus_helpers import random_corpus
from gradedpr.data.corpus import Corpus
from gradedpr.encode.fingerprint import corpus_fingerprint, encoder_fingerprint
from gradedpr.model.biencoder import BiEncoder


def test_encoder_fingerprint_tracks_weights_and_settings(tiny_model_dir: Path) -> None:
    a = BiEncoder.from_pretrained(tiny_model_dir)
    b = BiEncoder.from_pretrained(tiny_model_dir)
    assert encoder_fingerprint(a, "passage") == encoder_fingerprint(b, "passage")
    assert encoder_fingerprint(a, "query") != encoder_fingerprint(a, "passage")  # max lengths differ
    with torch.no_grad():
        b.passage_encoder.embeddings.word_embeddings.weight[5, 0] += 1e-3
    assert encoder_fingerprint(a, "passage") != encoder_fingerprint(b, "passage")
    assert encoder_fingerprint(a, "query") == encoder_fingerprint(b, "query")
    c = BiEncoder.from_pretrained(tiny_model_dir, passage_max_length=64)
    assert encoder_fingerprint(a, "passage") != encoder_fingerprint(c, "passage")


def test_corpus_fingerprint_is_content_based_and_layout_independent() -> None:
    corpus = random_corpus(50)
    same = random_corpus(50)
    assert corpus_fingerprint(corpus) == corpus_fingerprint(same)
    # the same rows in several arrow chunks
    parts = [corpus.dataset.select(range(i, min(i + 7, 50))) for i in range(0, 50, 7)]
    chunked = Corpus(datasets.concatenate_datasets(parts))
    assert chunked.dataset.data.column("text").num_chunks > 1
    assert corpus_fingerprint(chunked) == corpus_fingerprint(corpus)
    texts = corpus.texts(list(range(50)))
    edited = Corpus.from_lists(corpus.ids, [""] * 50, [*texts[:-1], texts[-1] + "!"])
    assert corpus_fingerprint(edited) != corpus_fingerprint(corpus)
    shifted = Corpus.from_lists(["x", "y"], ["a b", ""], ["c", "a b c"])
    moved = Corpus.from_lists(["x", "y"], ["a", ""], ["b c", "a b c"])
    assert corpus_fingerprint(shifted) != corpus_fingerprint(moved)


def test_duck_typed_corpus_is_fingerprinted_through_its_texts() -> None:
    class Plain:
        def __init__(self) -> None:
            self.ids = ["a", "b"]

        def __len__(self) -> int:
            return 2

        def texts(self, rows: list[int]) -> list[str]:
            return [f"text {r}" for r in rows]

    assert len(corpus_fingerprint(Plain())) == 32
