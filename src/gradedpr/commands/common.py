"""What the index / evaluate / train commands share: loading the model a config names, naming outputs,
and the ``${basename:...}`` resolver the configs use in output paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

if TYPE_CHECKING:
    from gradedpr.model.biencoder import BiEncoder


def basename(path: object) -> str:
    """The last component of ``path`` (``outputs/run/checkpoints/best`` -> ``best``)."""
    text = str(path).rstrip("/")
    return Path(text).name or text


def register_resolvers() -> None:
    """Register the OmegaConf resolvers the configs use (``${basename:...}``); the scripts call this first."""
    if not OmegaConf.has_resolver("basename"):
        OmegaConf.register_new_resolver("basename", basename)


def slug(text: str) -> str:
    """``text`` made safe as one path component."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "run"


def load_model(checkpoint: str, device: str = "auto", **overrides: Any) -> BiEncoder:
    """The checkpoint's dual encoder on ``device``; ``overrides`` (None = the checkpoint's own) replace settings."""
    from gradedpr.model.biencoder import BiEncoder  # here: the scripts import this module before checking settings
    from gradedpr.utils.distributed import local_device

    model = BiEncoder.from_pretrained(checkpoint, **{k: v for k, v in overrides.items() if v is not None})
    return model.to(local_device(device))


def checkpoint_path(checkpoint: str) -> str:
    from gradedpr.model.resolve import resolve_model_path

    return str(resolve_model_path(checkpoint).resolve())
