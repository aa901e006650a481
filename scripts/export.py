"""Export a checkpoint for sentence-transformers: ``python scripts/export.py checkpoint=... output=...``.

Writes a directory that ``SentenceTransformer(output)`` loads offline (a ``Router`` with query and document
routes for a two-encoder checkpoint, a plain model for a shared one), with a model card. Configuration:
``configs/export.yaml``; library code: :mod:`gradedpr.export.sentence_transformers`. Bad input exits with
status 2 and one line.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig, OmegaConf

from gradedpr.commands.cli import run_cli
from gradedpr.commands.export import run_export


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg: DictConfig) -> None:
    values = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(values, dict)
    run_cli(lambda: run_export({str(k): v for k, v in values.items()}))


if __name__ == "__main__":
    main()
