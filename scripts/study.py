"""Run a study: ``python scripts/study.py [study=nfcorpus|quick] [only=[frozen]] [train_runs=false]`` (``make study``).

Trains every (regime, loss, seed) of ``configs/study/<name>.yaml`` with identical budgets, evaluates each
run's best-dev checkpoint once on test (per-query run files kept), adds the zero-shot and BM25 rows, and
writes the aggregate table, paired tests and plots. Configuration: ``configs/study.yaml``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig

from gradedpr.commands.cli import run_cli
from gradedpr.commands.common import register_resolvers
from gradedpr.config.store import register_configs
from gradedpr.study.command import run_study


@hydra.main(version_base="1.3", config_path="../configs", config_name="study")
def main(cfg: DictConfig) -> None:
    run_cli(lambda: run_study(cfg))


if __name__ == "__main__":
    register_configs()  # the schema of configs/ (src/gradedpr/config/schema.py)
    register_resolvers()  # ${gradedpr_help:study}
    main()
