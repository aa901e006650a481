"""A tiny random-init BERT on disk, for fixtures and for tests that need several (importable by any test file:
``from tiny_model import make_tiny_model_dir``; a ``conftest`` module name is ambiguous between folders)."""

from __future__ import annotations

from pathlib import Path


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
