"""Checkpoints -> formats other tools load: a sentence-transformers model directory with a model card."""
