"""Exact resume after SIGKILL, with 2 torchrun processes and with 1 process (issue 10, item 5).

Each case launches the real CLI (``scripts/train.py`` through ``train_with_hooks.py``) three times on a tiny
BEIR collection with a random tiny BERT, dropout on: (1) 6 steps uninterrupted; (2) the same run, paused
half-way through writing ``checkpoints/last`` at step 4 and killed there with SIGKILL (every process); (3)
resumed from ``checkpoints/last``. The killed write must leave the step-2 checkpoint whole, and the resumed run
must end with weights **identical** (bit for bit) to the uninterrupted one. The train split has 3 queries and
the global batch is 2, so every epoch ends with a 1-query batch: under 2 processes rank 1 then has an empty
share. Resuming with another world size or another data order is refused with a ``CheckpointError`` (which
the CLI turns into one line and exit 2).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from safetensors.torch import load_file

import gradedpr.commands.train as run_module
from gradedpr.config.store import register_configs
from gradedpr.errors import CheckpointError
from gradedpr.model.biencoder import BiEncoder
from gradedpr.train.distributed import Dist

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "train_with_hooks.py"
sys.path.insert(0, str(ROOT / "tests"))
from tiny_beir import write_tiny_beir  # noqa: E402


def args(data: Path, model_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [f"data.path={data}", "data.builtin=false", "data.name=tiny", f"model.name_or_path={model_dir}",
            "logger=none", "train.max_steps=6", "train.save_every=2", "train.eval_every=0",
            "train.eval_at_start=false", "train.save_best=false", "train.batch_size=2", "train.group_size=3",
            "train.negatives=random", "train.lr=1e-3", "train.eval_k=10", "train.dist_timeout=60",
            "show_progress=false", f"hydra.run.dir={run_dir}", *extra]


def launch(world: int, overrides: list[str], workdir: Path, **env_extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "GRADEDPR_TEST_PID_DIR": str(workdir / "pids"), **env_extra}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(DRIVER), *overrides]
    if world > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world}", *cmd[1:]]
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(process: subprocess.Popen[str], expect: int = 0) -> str:
    out, _ = process.communicate(timeout=240)
    assert process.returncode == expect, out[-4000:]
    return out


def kill_all(process: subprocess.Popen[str], pid_dir: Path) -> None:
    """SIGKILL the launcher and every training process (torchrun starts its workers in their own sessions)."""
    for pid_file in pid_dir.glob("*.pid"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    last = run_dir / "checkpoints" / "last"
    return {f"{side}/{k}": v for side in ("query_encoder", "passage_encoder")
            for k, v in load_file(last / side / "model.safetensors").items()}


def step_of(run_dir: Path) -> int:
    return int(json.loads((run_dir / "checkpoints" / "last" / "training_info.json").read_text())["step"])


@pytest.mark.parametrize("world", [2, 1])
def test_killed_mid_checkpoint_then_resumed_equals_uninterrupted(world: int, tiny_model_dir: Path,
                                                                 tmp_path: Path) -> None:
    data = write_tiny_beir(tmp_path / "tiny")
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    finish(launch(world, args(data, tiny_model_dir, straight), tmp_path / "w1"))
    assert step_of(straight) == 6

    marker = tmp_path / "paused"
    killed = launch(world, args(data, tiny_model_dir, broken), tmp_path / "w2",
                    GRADEDPR_TEST_PAUSE_AT_SAVE="2", GRADEDPR_TEST_PAUSE_MARKER=str(marker))
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert killed.poll() is None, killed.communicate()[0][-4000:]
        assert time.monotonic() < deadline, "the run never reached its second checkpoint write"
        time.sleep(0.1)
    assert "checkpoints" in marker.read_text() and "/last" not in marker.read_text()  # inside the temporary dir
    kill_all(killed, tmp_path / "w2" / "pids")
    assert step_of(broken) == 2  # the half-written step-4 checkpoint never replaced the step-2 one
    last = broken / "checkpoints" / "last"
    BiEncoder.from_pretrained(last)
    state = torch.load(last / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == world and len(state["rng_per_rank"]) == world

    out = finish(launch(world, args(data, tiny_model_dir, broken, f"resume_from={last}"), tmp_path / "w3"))
    assert step_of(broken) == 6, out[-2000:]
    want, got = weights(straight), weights(broken)
    assert want.keys() == got.keys()
    different = [k for k in want if not torch.equal(want[k], got[k])]
    assert not different, f"resumed weights differ from the uninterrupted run in {different[:5]}"

    # another world size, or another data order: refused (the CLI prints the one line and exits 2)
    other = 1 if world == 2 else 2
    with pytest.raises(CheckpointError, match=f"written by {world} training process\\(es\\), this run has {other}"):
        resume_in_this_process(data, tiny_model_dir, tmp_path / "other", last, world_size=other)
    with pytest.raises(CheckpointError, match=r"different settings \(train.batch_size: 2 -> 4\)"):
        resume_in_this_process(data, tiny_model_dir, tmp_path / "order", last, "train.batch_size=4",
                               world_size=world)


def resume_in_this_process(data: Path, model_dir: Path, run_dir: Path, last: Path, *extra: str,
                           world_size: int) -> None:
    """``run_training`` as one rank of a ``world_size`` job, stopped before any collective (``resume`` checks
    the checkpoint first; a fake process group stands in for the others)."""
    GlobalHydra.instance().clear()
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        overrides = [a for a in args(data, model_dir, run_dir, f"resume_from={last}", *extra)
                     if not a.startswith("hydra.")]
        cfg = compose("train", overrides=[*overrides, f"run_dir={run_dir}"])
    fake = Dist(0, world_size)
    with mock.patch.object(run_module, "init_from_env", return_value=fake), \
            mock.patch.object(Dist, "broadcast_object", lambda self, obj, what="": obj), \
            mock.patch.object(Dist, "broadcast_parameters", lambda self, params, what="": None):
        run_module.run_training(cfg)
