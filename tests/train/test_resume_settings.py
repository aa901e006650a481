"""Resuming refuses settings that differ from the checkpoint's and says what changed (issue 9, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_trainer import make_trainer

from gradedpr.config.resume import MUST_MATCH, changed_settings, check_resume_settings
from gradedpr.errors import CheckpointError


def test_trainer_resume_lists_every_changed_setting(tiny_model_dir: Path, tmp_path: Path) -> None:
    make_trainer(tiny_model_dir, tmp_path, max_steps=2, eval_every=0).train()
    last = tmp_path / "checkpoints" / "last"
    other = make_trainer(last, tmp_path / "b", max_steps=4, eval_every=0, batch_size=2, lr=5e-4)
    with pytest.raises(CheckpointError, match=r"train\.batch_size: 3 -> 2; train\.lr: 0\.001 -> 0\.0005") as caught:
        other.resume(last)
    assert "max_steps" not in str(caught.value) and "\n" not in str(caught.value)
    longer = make_trainer(last, tmp_path / "c", max_steps=4, eval_every=1, save_every=1)  # allowed changes
    longer.resume(last)
    assert longer.train().steps == 4


def test_the_comparison_is_a_generic_dict_diff() -> None:
    old = {"seed": 1, "train": {"batch_size": 8, "frozen": {"topk": 100}}, "loss": {"name": "nll"}}
    new = {"seed": 1, "train": {"batch_size": 8, "frozen": {"topk": 50}, "max_steps": 9}, "loss": {"name": "nll"},
           "world_size": 2}
    assert changed_settings(old, new) == [("train.frozen", {"topk": 100}, {"topk": 50})]
    assert changed_settings({"world_size": 1}, new, keys=[*MUST_MATCH, "world_size"]) == [("world_size", 1, 2)]
    assert changed_settings({}, new) == []  # nothing recorded: nothing compared
    with pytest.raises(CheckpointError, match=r"^x: cannot resume with different settings \(seed: 1 -> 2\)"):
        check_resume_settings({"seed": 1}, {"seed": 2}, "x")
