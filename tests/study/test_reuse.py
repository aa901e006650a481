"""A study takes finished runs of the same settings from another study (``reuse``) instead of training them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from gradedpr.errors import ConfigError
from gradedpr.study.plan import plan_runs
from gradedpr.study.reuse import REUSED_FILE, reuse_runs, training_settings
from gradedpr.study.runner import is_finished


def finished_run(run_dir: Path, overrides: list[str]) -> None:
    """What a finished blind run leaves, with the overrides Hydra recorded and a scored test split."""
    (run_dir / "checkpoints" / "best").mkdir(parents=True)
    (run_dir / "checkpoints" / "best" / "model.safetensors").write_bytes(b"weights")
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (run_dir / "train_summary.json").write_text(json.dumps({"steps": 3}))
    (run_dir / "test").mkdir()
    (run_dir / "test" / "run.trec").write_text("q 0 d 1 1.0 t\n")


def test_finished_runs_of_equal_settings_are_hard_linked_without_their_test(tmp_path: Path) -> None:
    regimes = {"whole": {"overrides": ["experiment=x"], "losses": ["graded_infonce"], "seeds": [1, 2],
                         "reuse": str(tmp_path / "other" / "runs" / "all")}}
    runs = plan_runs(regimes, tmp_path / "study", "tiny", "test", blind=True)
    source = tmp_path / "other" / "runs" / "all" / "graded_infonce-s1"
    # recorded in another order, with another output directory, logger and overwrite: the same training
    finished_run(source, ["data=tiny", "experiment=x", "seed=1", "loss=graded_infonce", f"run_dir={source}",
                          "logger=none", "show_progress=false"])
    assert reuse_runs(runs, regimes, "test") == 1  # seed 2 has no source: it is trained here
    copy = runs[0].run_dir
    assert is_finished(runs[0], "test", blind=True) and not is_finished(runs[1], "test", blind=True)
    assert not (copy / "test").exists() and (source / "test").is_dir()  # the study scores test itself, once
    weights = copy / "checkpoints" / "best" / "model.safetensors"
    assert os.stat(weights).st_ino == os.stat(source / "checkpoints" / "best" / "model.safetensors").st_ino
    assert json.loads((copy / REUSED_FILE).read_text()) == {"from": str(source)}
    assert reuse_runs(runs, regimes, "test") == 0  # finished now: nothing more to take


def test_a_source_trained_otherwise_is_an_error_naming_the_difference(tmp_path: Path) -> None:
    regimes = {"tuned": {"overrides": ["experiment=x"], "losses": ["approx_ndcg"], "seeds": [1],
                         "loss_overrides": {"approx_ndcg": ["loss.kwargs.temperature=0.3"]},
                         "reuse": {"approx_ndcg": str(tmp_path / "phase1")}}}
    runs = plan_runs(regimes, tmp_path / "study", "tiny", "test", blind=True)
    finished_run(tmp_path / "phase1" / "approx_ndcg-s1",
                 ["experiment=x", "loss.kwargs.temperature=1.0", "data=tiny", "loss=approx_ndcg", "seed=1"])
    with pytest.raises(ConfigError, match=r"other settings \(only there: \['loss.kwargs.temperature=1.0'\]; "
                                          r"only here: \['loss.kwargs.temperature=0.3'\]\)"):
        reuse_runs(runs, regimes, "test")
    assert not runs[0].run_dir.exists()


def test_runner_settings_do_not_count() -> None:
    assert training_settings(["a=1", "run_dir=x", "hydra.run.dir=x", "overwrite=true", "logger=none",
                              "logger.group=g", "show_progress=false"]) == {"a=1"}
