"""Train a graded listwise DPR dual encoder: ``python scripts/train.py [hydra overrides]`` (or ``make train``)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig

from gradedpr.commands.checks import train_app
from gradedpr.commands.cli import ATOMIC, run_cli
from gradedpr.commands.common import register_loss_defaults, register_resolvers
from gradedpr.commands.rundir import hydra_record, train_intact
from gradedpr.config.schema import TrainApp
from gradedpr.config.store import register_configs

# Under torchrun only rank 0 writes the run directory (run_training sends its path to the other ranks): the other
# ranks compose configs/train_worker.yaml, the same settings without a Hydra output directory of their own.
CONFIG = "train" if int(os.environ.get("RANK", "0")) == 0 else "train_worker"


@hydra.main(version_base="1.3", config_path="../configs", config_name=CONFIG)
def main(cfg: DictConfig) -> float | None:
    apps: list[TrainApp] = []

    def train() -> float | None:
        app = train_app(cfg)  # every setting checked before the heavy imports below and any work
        apps.append(app)
        from gradedpr.commands.train import run_training

        return run_training(app, hydra_files=hydra_record(cfg)).best_metric

    # Ctrl-C or a full disk: one line saying which checkpoint is intact and how to resume
    return run_cli(train, intact=lambda: train_intact(apps[0].run_dir) if apps else ATOMIC)


if __name__ == "__main__":
    register_configs()  # the schema of configs/ (src/gradedpr/config/schema.py)
    register_resolvers()  # ${basename:...}, ${gradedpr_help:train}
    register_loss_defaults()  # loss.kwargs shows the chosen loss's hyper-parameters (--cfg job)
    main()
