"""Checkpoint files that are malicious, truncated or corrupt: one line naming the file, nothing run.

Trainer state used to be loaded with ``torch.load(weights_only=False)``, which runs whatever a shared
checkpoint pickled (issue 9, item 8); a truncated ``model.safetensors`` or ``trainer_state.pt`` ended in a
traceback. The state now holds only tensors and plain values and loads with ``weights_only=True``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability_helpers import assert_one_line_error, beir_overrides, run_script

from gradedpr.errors import CheckpointError
from gradedpr.model.biencoder import BiEncoder
from gradedpr.utils.seeding import rng_state, seed_everything, set_rng_state
from gradedpr.utils.torch_state import load_plain_state

STATE = "trainer_state.pt"


class RunsCode:
    """Unpickling this calls ``exec``: what a malicious shared checkpoint would hide in its trainer state."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def checkpoint_with_state(model_dir: Path, directory: Path, state: object) -> Path:
    return BiEncoder.from_pretrained(model_dir).save_pretrained(directory, extra_files={STATE: state})


def test_the_rng_state_loads_with_weights_only_and_restores_exactly(tmp_path: Path) -> None:
    seed_everything(3)
    torch.save({"rng": rng_state()}, tmp_path / STATE)
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn())
    seed_everything(99)
    set_rng_state(load_plain_state(tmp_path / STATE)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn()) == expected


def test_normal_state_loads_with_weights_only(tmp_path: Path) -> None:
    state = {"step": 3, "rng": rng_state(), "settings": {"lr": 1e-3, "eval_metric": "ndcg@10"},
             "evaluations": [{"step": 0, "dev/ndcg@10": 0.5}], "best_metric": None}
    torch.save(state, tmp_path / STATE)
    loaded = load_plain_state(tmp_path / STATE)
    assert loaded["step"] == 3 and torch.equal(loaded["rng"]["torch"], state["rng"]["torch"])


def test_state_that_would_run_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    torch.save({"step": 1, "payload": RunsCode(marker)}, tmp_path / STATE)
    with pytest.raises(CheckpointError) as caught:
        load_plain_state(tmp_path / STATE)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / STATE}: refused to load") and "\n" not in message
    assert "(it pickles a call of exec)" in message
    assert not marker.exists()


@pytest.mark.parametrize("keep", [0, 10, 300, -20])
def test_truncated_state_is_a_one_line_error_naming_the_file(keep: int, tmp_path: Path) -> None:
    torch.save({"step": 1, "optimizer": {"state": {0: {"exp_avg": torch.ones(1000)}}}}, tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / STATE).write_bytes(data[:keep])
    with pytest.raises(CheckpointError, match="truncated or corrupt trainer state") as caught:
        load_plain_state(tmp_path / STATE)
    assert str(caught.value).startswith(f"{tmp_path / STATE}: ") and "\n" not in str(caught.value)


@pytest.mark.parametrize("cut", [4, 1000, -100])
def test_truncated_safetensors_is_a_one_line_error_naming_the_file(cut: int, tiny_model_dir: Path,
                                                                   tmp_path: Path) -> None:
    ckpt = BiEncoder.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / "ckpt")
    weights = ckpt / "passage_encoder" / "model.safetensors"
    os.truncate(weights, cut if cut > 0 else weights.stat().st_size + cut)
    with pytest.raises(CheckpointError) as caught:
        BiEncoder.from_pretrained(ckpt)
    message = str(caught.value)
    assert message.startswith(f"{weights}: truncated or corrupt weights") and "\n" not in message


def test_train_resume_from_a_malicious_checkpoint_exits_2_naming_the_file(tiny_beir: Path, tiny_model_dir: Path,
                                                                          tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    ckpt = checkpoint_with_state(tiny_model_dir, tmp_path / "shared" / "last", {"step": 1, "x": RunsCode(marker)})
    result = run_script("train.py", [*beir_overrides(tiny_beir), f"model.name_or_path={tiny_model_dir}",
                                     f"resume_from={ckpt}", "logger=none", f"run_dir={tmp_path}/run"], tmp_path)
    assert_one_line_error(result, f"{ckpt / STATE}: refused to load")
    assert not marker.exists()


def test_evaluate_with_truncated_weights_exits_2_naming_the_file(tiny_beir: Path, tiny_model_dir: Path,
                                                                 tmp_path: Path) -> None:
    ckpt = BiEncoder.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / "ckpt")
    weights = ckpt / "query_encoder" / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    result = run_script("evaluate.py", [*beir_overrides(tiny_beir), f"checkpoint={ckpt}",
                                        f"output={tmp_path}/eval"], tmp_path)
    assert_one_line_error(result, f"{weights}: truncated or corrupt weights")
