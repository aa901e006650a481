"""Default run directories are unique per run: seed and microseconds in the name."""

from __future__ import annotations

import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from gradedpr.config.store import register_configs

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def run_dir(*overrides: str) -> str:
    GlobalHydra.instance().clear()
    register_configs()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
        return str(OmegaConf.select(cfg, "hydra.run.dir"))


def test_two_runs_in_the_same_second_get_different_directories() -> None:
    first, second = run_dir("seed=1"), run_dir("seed=1")
    time.sleep(0.002)
    third = run_dir("seed=1")
    assert len({first, second, third}) >= 2  # microsecond resolution (the same second otherwise)
    assert "-s1-" in first and "-s7-" in run_dir("seed=7")
