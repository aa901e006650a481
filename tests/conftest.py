"""Shared pytest fixtures: a tiny random-init BERT that loads like any HF model directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One OpenMP thread, set before torch / faiss start their runtimes: the tests share 2 cores, and several of
# them fork the test process (scripts run as __main__ in a child), which deadlocks in a forked OpenMP pool.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_tiny_model_dir(directory: Path, seed: int = 0) -> Path:
    """Write a random-init 2-layer BERT (hidden 32) with the bundled MiniLM tokenizer into ``directory``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel
    from transformers.utils import logging as transformers_logging

    from gradedpr.model.resolve import bundled_minilm_path

    transformers_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()), local_files_only=True)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    model = BertModel(config, add_pooling_layer=False)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide HF directory holding a tiny random BERT (2 layers, hidden 32) + the MiniLM tokenizer."""
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path) -> Any:
    """The tiny random BERT as a BiEncoder (separate query / passage encoders with equal weights)."""
    from gradedpr.model.biencoder import BiEncoder

    return BiEncoder.from_pretrained(tiny_model_dir).eval()
