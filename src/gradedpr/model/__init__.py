"""The dual encoder: query and passage BERTs, pooling, similarity, save / load."""

from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.config import BiEncoderConfig
from gradedpr.model.resolve import DEFAULT_MODEL, resolve_model_path

__all__ = ["DEFAULT_MODEL", "BiEncoder", "BiEncoderConfig", "resolve_model_path"]
