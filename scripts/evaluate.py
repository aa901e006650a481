"""Evaluate a checkpoint: ``python scripts/evaluate.py checkpoint=... index=<index dir> split=test [k=1000]``.

Encodes the split's queries, searches the index (``index=null``: an in-memory flat index over the corpus,
encoded on the fly), writes a TREC run and metrics JSON, prints the table. Configuration:
``configs/evaluate.yaml``.

Existing run files, without a model: ``run=<file> data=... split=...`` scores one file;
``runs=[a.trec,b.trec] baseline=a`` compares files with paired significance tests (Markdown on stdout, JSON
in ``output``); ``qrels=<file>`` replaces ``data`` + ``split``. Bad input exits with status 2 and one line.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig

from gradedpr.commands.checks import evaluate_app
from gradedpr.commands.cli import run_cli
from gradedpr.commands.common import register_resolvers
from gradedpr.config.store import register_configs


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    def evaluate() -> None:
        app = evaluate_app(cfg)  # every setting checked before the heavy imports below and any work
        if app.runs:
            from gradedpr.commands.compare import run_compare

            run_compare(app)
        else:
            from gradedpr.commands.evaluate import run_evaluate

            run_evaluate(app)

    run_cli(evaluate)


if __name__ == "__main__":
    register_configs()  # the schema of configs/ (src/gradedpr/config/schema.py)
    register_resolvers()  # ${basename:...}
    main()
