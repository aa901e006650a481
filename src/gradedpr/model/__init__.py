"""The dual encoder: query and passage BERTs, pooling, similarity, save / load.

The names below are imported on first use (PEP 562), so that ``gradedpr.model.config`` and
``gradedpr.model.resolve`` can be imported without torch and transformers (the command-line tools check
their settings with them before loading anything heavy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.model.config import BiEncoderConfig
    from gradedpr.model.resolve import DEFAULT_MODEL, resolve_model_path

__all__ = ["DEFAULT_MODEL", "BiEncoder", "BiEncoderConfig", "resolve_model_path"]

_WHERE = {"BiEncoder": "biencoder", "BiEncoderConfig": "config", "DEFAULT_MODEL": "resolve",
          "resolve_model_path": "resolve"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
