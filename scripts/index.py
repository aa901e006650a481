"""Encode a corpus and build a FAISS index: ``python scripts/index.py checkpoint=... data=... [faiss=hnsw]``.

Configuration: ``configs/index.yaml`` and the ``configs/index/`` group (flat, hnsw, ivfpq, factory). Under
``torchrun --nproc_per_node N scripts/index.py ...`` each process encodes 1/N of the corpus.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig

from gradedpr.commands.checks import index_app
from gradedpr.commands.cli import run_cli
from gradedpr.commands.common import register_resolvers
from gradedpr.config.store import register_configs


@hydra.main(version_base="1.3", config_path="../configs", config_name="index")
def main(cfg: DictConfig) -> None:
    def index() -> None:
        app = index_app(cfg)  # every setting checked before the heavy imports below and any work
        from gradedpr.commands.index import run_index

        run_index(app)

    run_cli(index)


if __name__ == "__main__":
    register_configs()  # the schema of configs/ (src/gradedpr/config/schema.py)
    register_resolvers()  # ${basename:...}
    main()
