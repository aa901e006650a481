"""Every study in configs/study/ plans runs whose settings compose into a valid training configuration (a
misspelt override or a bad value fails here, not hours into a study)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize
from omegaconf import OmegaConf

from gradedpr.commands.checks import to_app
from gradedpr.commands.common import register_resolvers
from gradedpr.config.schema import TrainApp
from gradedpr.config.store import register_configs
from gradedpr.study.plan import plan_runs
from gradedpr.study.reuse import training_settings

STUDIES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "configs" / "study").glob("*.yaml"))


@pytest.mark.parametrize("name", STUDIES)
def test_every_planned_run_composes_into_valid_settings(name: str, tmp_path: Path) -> None:
    with initialize(version_base="1.3", config_path="../../configs"):
        register_configs()
        register_resolvers()
        study = compose(config_name="study", overrides=[f"study={name}"]).study
        regimes = OmegaConf.to_container(study.regimes, resolve=True)
        assert isinstance(regimes, dict)
        for spec in regimes.values():
            spec["overrides"] = [*(study.get("overrides") or []), *(spec.get("overrides") or [])]
        runs = plan_runs(regimes, tmp_path, str(study.data.name), str(study.split),
                         blind=bool(study.get("blind", False)))
        assert runs
        for run in runs:
            if run.tool != "gradedpr":
                continue
            overrides = sorted(training_settings(run.command("python")[2:]))
            app = to_app(compose(config_name="train", overrides=[*overrides, f"run_dir={tmp_path / 'run'}"]), TrainApp)
            assert app.seed == run.seed and app.run_dir == str(tmp_path / "run")
