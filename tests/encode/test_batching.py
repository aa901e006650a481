"""Token-length batching: every text encoded once, in input order, equal to BiEncoder.encode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_helpers import plain_encode, random_texts
from gradedpr.encode.batching import (
    CPU_MAX_TOKENS,
    encode_texts,
    pad_batch,
    plan_batches,
    resolve_max_tokens,
    tokenize_unpadded,
)
from gradedpr.model.biencoder import BiEncoder


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 300), min_size=0, max_size=80),
    batch_size=st.integers(1, 70),
    max_tokens=st.one_of(st.none(), st.integers(1, 5000)),
)
def test_plan_batches_partitions_rows_within_limits(
    lengths: list[int], batch_size: int, max_tokens: int | None
) -> None:
    arr = np.asarray(lengths, dtype=np.int64)
    batches = plan_batches(arr, batch_size, max_tokens)
    rows = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
    assert sorted(rows.tolist()) == list(range(len(lengths)))  # each row exactly once
    assert np.all(np.diff(arr[rows]) <= 0)  # longest first overall
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        if max_tokens is not None and len(batch) > 1:
            assert len(batch) * arr[batch].max() <= max_tokens


def test_tokenize_unpadded_matches_the_tokenizer(tiny_model: BiEncoder) -> None:
    texts = random_texts(50, seed=1, max_words=200)
    tokens = tokenize_unpadded(tiny_model, texts, "passage")
    reference = tiny_model.tokenizer(texts, truncation=True, max_length=tiny_model.config.passage_max_length)
    assert len(tokens) == len(texts)
    for i, ids in enumerate(reference["input_ids"]):
        assert tokens.ids[tokens.offsets[i] : tokens.offsets[i + 1]].tolist() == ids
    assert tokens.lengths.max() == tiny_model.config.passage_max_length  # long texts were truncated


def test_pad_batch_matches_model_tokenize(tiny_model: BiEncoder) -> None:
    texts = random_texts(7, seed=2)
    tokens = tokenize_unpadded(tiny_model, texts, "query")
    batch = pad_batch(tokens, np.arange(7), int(tiny_model.tokenizer.pad_token_id))
    reference = tiny_model.tokenize(texts, "query")
    for key, value in reference.items():
        assert batch[key].tolist() == value.tolist(), key


def test_encode_texts_equals_a_plain_loop_in_input_order(tiny_model: BiEncoder) -> None:
    texts = random_texts(97, seed=3, max_words=120)
    for kind in ("passage", "query"):
        expected = plain_encode(tiny_model, texts, kind)
        for max_tokens in (None, 200):
            got = encode_texts(tiny_model, texts, kind, batch_size=16, max_tokens=max_tokens)
            assert got.dtype == np.float32 and got.shape == expected.shape
            np.testing.assert_allclose(got, expected, atol=2e-5)
    one_by_one = encode_texts(tiny_model, texts[:9], "passage", batch_size=16, max_tokens=1)
    np.testing.assert_allclose(one_by_one, plain_encode(tiny_model, texts[:9], "passage"), atol=2e-5)
    assert encode_texts(tiny_model, [], "query").shape == (0, tiny_model.dim)


def test_encode_texts_restores_training_mode(tiny_model: BiEncoder) -> None:
    tiny_model.train()
    try:
        encode_texts(tiny_model, ["a b c"], "query")
        assert tiny_model.training
    finally:
        tiny_model.eval()


def test_resolve_max_tokens() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert resolve_max_tokens("auto", cpu) == CPU_MAX_TOKENS and resolve_max_tokens("auto", gpu) is None
    assert resolve_max_tokens(None, cpu) is None and resolve_max_tokens(512, cpu) == 512
    assert resolve_max_tokens("4096", gpu) == 4096
    for bad in (0, "many"):
        with pytest.raises(ValueError):
            resolve_max_tokens(bad, cpu)
