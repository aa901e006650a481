"""BiEncoder: pooling, similarity, separate vs shared encoders, checkpoint round trip and atomic saves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gradedpr.encode.batching import encode_texts
from gradedpr.errors import CheckpointError
from gradedpr.model import BiEncoder, BiEncoderConfig
from gradedpr.model.pooling import pool
from gradedpr.model.resolve import bundled_minilm_path, sentence_transformers_hints

TEXTS = ["short", "a much longer passage about vitamins, fibre and heart disease risk", "mid length text"]


def test_pooling_cls_and_masked_mean() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(pool(hidden, mask, "cls"), torch.tensor([[1.0, 2.0]]))
    assert torch.allclose(pool(hidden, mask, "mean"), torch.tensor([[2.0, 3.0]]))
    with pytest.raises(ValueError, match="pooling"):
        pool(hidden, mask, "max")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="pooling"):
        BiEncoderConfig(pooling="max")
    with pytest.raises(ValueError, match="similarity"):
        BiEncoderConfig(similarity="l2")
    with pytest.raises(ValueError, match="temperature"):
        BiEncoderConfig(temperature=0)
    with pytest.raises(ValueError, match="unknown"):
        BiEncoderConfig.from_dict({"poolin": "cls"})


def test_separate_encoders_by_default_and_shared_option(tiny_model_dir: Path) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir)
    assert model.query_encoder is not model.passage_encoder
    shared = BiEncoder.from_pretrained(tiny_model_dir, shared=True)
    assert shared.query_encoder is shared.passage_encoder
    n_shared = sum(p.numel() for p in shared.parameters())
    n_separate = sum(p.numel() for p in model.parameters())
    assert n_separate == 2 * n_shared


def test_cosine_embeddings_are_unit_length_and_score_uses_temperature(tiny_model_dir: Path) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir, similarity="cosine", temperature=0.1)
    q = model.encode_queries(model.tokenize(TEXTS[:2], "query"))
    p = model.encode_passages(model.tokenize(TEXTS, "passage"))
    assert torch.allclose(q.norm(dim=-1), torch.ones(2), atol=1e-5)
    scores = model.score(q, p)
    assert scores.shape == (2, 3)
    assert torch.allclose(scores, (q @ p.T) / 0.1)
    dot = BiEncoder.from_pretrained(tiny_model_dir, similarity="dot", pooling="cls")
    q_dot = dot.encode_queries(dot.tokenize(TEXTS[:2], "query"))
    assert not torch.allclose(q_dot.norm(dim=-1), torch.ones(2), atol=1e-3)


def test_encode_returns_input_order(tiny_model_dir: Path) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir)
    batched = encode_texts(model, TEXTS, "passage", batch_size=2)
    single = np.concatenate([encode_texts(model, [t], "passage") for t in TEXTS])
    assert batched.dtype == np.float32
    np.testing.assert_allclose(batched, single, atol=1e-5)
    with pytest.raises(ValueError, match="kind"):
        encode_texts(model, TEXTS, "doc")


def test_checkpoint_round_trip(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir, pooling="cls", temperature=0.07, passage_max_length=64)
    with torch.no_grad():  # make the two encoders differ, as after training
        next(model.passage_encoder.parameters()).add_(0.5)
    before_q = encode_texts(model, TEXTS, "query")
    before_p = encode_texts(model, TEXTS, "passage")
    ckpt = model.save_pretrained(tmp_path / "ckpt")
    assert (ckpt / "query_encoder" / "model.safetensors").exists()
    assert (ckpt / "passage_encoder" / "model.safetensors").exists()
    assert (ckpt / "tokenizer_config.json").exists()
    settings = json.loads((ckpt / "gradedpr.json").read_text())
    assert settings["pooling"] == "cls" and settings["temperature"] == 0.07
    loaded = BiEncoder.from_pretrained(ckpt)  # no flags needed
    assert loaded.config == model.config
    np.testing.assert_allclose(encode_texts(loaded, TEXTS, "query"), before_q, atol=1e-6)
    np.testing.assert_allclose(encode_texts(loaded, TEXTS, "passage"), before_p, atol=1e-6)
    longer = BiEncoder.from_pretrained(ckpt, passage_max_length=256)
    assert longer.config.passage_max_length == 256 and longer.config.pooling == "cls"


def test_failed_save_leaves_the_old_checkpoint(tiny_model_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir)
    ckpt = model.save_pretrained(tmp_path / "ckpt")
    reference = encode_texts(BiEncoder.from_pretrained(ckpt), TEXTS, "passage")
    with torch.no_grad():
        next(model.passage_encoder.parameters()).add_(1.0)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(model.tokenizer, "save_pretrained", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(ckpt)
    np.testing.assert_allclose(encode_texts(BiEncoder.from_pretrained(ckpt), TEXTS, "passage"), reference, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary leftovers


def test_shared_checkpoint_round_trip(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir, shared=True)
    ckpt = model.save_pretrained(tmp_path / "shared")
    loaded = BiEncoder.from_pretrained(ckpt)
    assert loaded.config.shared and loaded.query_encoder is loaded.passage_encoder


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such model directory"):
        BiEncoder.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="neither a gradedpr checkpoint"):
        BiEncoder.from_pretrained(tmp_path / "empty")


def test_bundled_minilm_is_read_as_a_sentence_transformers_export() -> None:
    hints = sentence_transformers_hints(bundled_minilm_path())
    assert hints == {"pooling": "mean", "passage_max_length": 256, "similarity": "cosine"}
