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
from omegaconf import DictConfig

from gradedpr.commands.checks import export_app
from gradedpr.commands.cli import run_cli
from gradedpr.commands.common import register_resolvers
from gradedpr.config.store import register_configs


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg: DictConfig) -> None:
    def export() -> None:
        app = export_app(cfg)  # every setting checked before the heavy imports below and any work
        from gradedpr.commands.export import run_export

        run_export(app)

    run_cli(export)


if __name__ == "__main__":
    register_configs()  # the schema of configs/ (src/gradedpr/config/schema.py)
    register_resolvers()  # ${basename:...}
    main()
