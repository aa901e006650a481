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
from gradedpr.commands.cli import ATOMIC, run_cli
from gradedpr.commands.common import register_resolvers
from gradedpr.commands.rundir import index_intact
from gradedpr.config.schema import IndexApp
from gradedpr.config.store import register_configs


@hydra.main(version_base="1.3", config_path="../configs", config_name="index")
def main(cfg: DictConfig) -> None:
    apps: list[IndexApp] = []

    def index() -> None:
        app = index_app(cfg)  # every setting checked before the heavy imports below and any work
        apps.append(app)
        from gradedpr.commands.index import run_index

        run_index(app)

    # Ctrl-C or a full disk: one line saying that the encoded passages are kept and how to continue
    run_cli(index, intact=lambda: index_intact(apps[0].embeddings_dir, apps[0].output) if apps else ATOMIC)


if __name__ == "__main__":
    register_configs()  # the schema of configs/ (src/gradedpr/config/schema.py)
    register_resolvers()  # ${basename:...}
    main()
