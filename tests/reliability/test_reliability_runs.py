"""One run, one directory, one writer (issue 9, items 1 and 2).

Two trainings started at once could share a run directory, every run's ``best`` indexed and evaluated into
the same default ``outputs/index/<data>-best-flat`` / ``outputs/eval/<data>-best-test``, and a resumed run
appended a second copy of the replayed steps to ``metrics.jsonl``. Now the trainer holds a lock on its run
directory (a second process gets one line naming the directory and the PID holding it), default output
paths carry the run (or a hash of the checkpoint's path), and ``metrics.jsonl`` keeps exactly one record
per step across a kill and a resume.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize
from reliability_helpers import ROOT, assert_one_line_error, beir_overrides, run_script

from gradedpr.commands.common import checkpoint_label, register_resolvers
from gradedpr.commands.evaluate import run_evaluate
from gradedpr.config.store import register_configs
from gradedpr.errors import OutputError
from gradedpr.model.biencoder import BiEncoder
from gradedpr.utils.runlock import LOCK_FILE, check_run_dir_free, hold_run_dir

HOLDER = """
import sys, time
from gradedpr.utils.runlock import hold_run_dir
with hold_run_dir(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def hold_in_other_process(run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def train_args(root: Path, model_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [*beir_overrides(root), f"model.name_or_path={model_dir}", f"run_dir={run_dir}", "logger=none",
            "train.batch_size=2", "train.group_size=2", "train.max_positives=1", "train.eval_k=10",
            "train.eval_at_start=false", *extra]


def test_the_run_directory_name_holds_microseconds_and_the_seed() -> None:
    pattern = yaml.safe_load((ROOT / "configs" / "train.yaml").read_text())["hydra"]["run"]["dir"]
    assert "%f" in pattern and "s${seed}" in pattern


def test_a_held_run_directory_is_refused_naming_it_and_the_pid(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    holder = hold_in_other_process(run_dir)
    try:
        busy = rf"{run_dir}: the run directory is in use by PID {holder.pid}"
        with pytest.raises(OutputError, match=busy), hold_run_dir(run_dir):
            pass
        with pytest.raises(OutputError, match=f"PID {holder.pid}"):
            check_run_dir_free(run_dir)
    finally:
        holder.kill()
        holder.wait()
    with hold_run_dir(run_dir), hold_run_dir(run_dir):  # freed by the kernel at the kill; re-entrant
        check_run_dir_free(run_dir)
    assert (run_dir / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_train_into_or_resume_a_held_run_directory_exits_2(tiny_beir: Path, tiny_model_dir: Path,
                                                           tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    last = BiEncoder.from_pretrained(tiny_model_dir).save_pretrained(run_dir / "checkpoints" / "last")
    (run_dir / "config.yaml").write_text("seed: 1\n")
    holder = hold_in_other_process(run_dir)
    try:
        into = run_script("train.py", train_args(tiny_beir, tiny_model_dir, run_dir), tmp_path)
        assert_one_line_error(into, f"{run_dir}: the run directory is in use by PID {holder.pid}")
        assert (run_dir / "config.yaml").read_text() == "seed: 1\n"  # nothing written into it
        resumed = run_script("train.py", train_args(tiny_beir, tiny_model_dir, tmp_path / "other",
                                                    f"resume_from={last}"), tmp_path)
        assert_one_line_error(resumed, f"{run_dir}: the run directory is in use by PID {holder.pid}")
    finally:
        holder.kill()
        holder.wait()


def test_default_output_names_are_unique_per_run(tmp_path: Path, tiny_model_dir: Path) -> None:
    runs = []
    for name in ("tiny-listnet-s1-20250101-000000-000001", "tiny-listnet-s2-20250101-000000-000001"):
        best = tmp_path / "outputs" / "train" / name / "checkpoints" / "best"
        best.mkdir(parents=True)
        (best.parent.parent / "config.yaml").write_text("seed: 1\n")
        runs.append(best)
    assert checkpoint_label(runs[0]) == "tiny-listnet-s1-20250101-000000-000001-best"
    sweep_job = tmp_path / "sweep" / "20250101-000000" / "0-listnet" / "checkpoints" / "last"
    sweep_job.mkdir(parents=True)
    (sweep_job.parent.parent / "config.yaml").write_text("seed: 1\n")
    (sweep_job.parent.parent.parent / "multirun.yaml").write_text("{}\n")
    assert checkpoint_label(sweep_job) == "20250101-000000-0-listnet-last"
    plain = [tmp_path / "a" / "model", tmp_path / "b" / "model"]
    for path in plain:
        path.mkdir(parents=True)
    labels = {checkpoint_label(p) for p in plain}
    assert len(labels) == 2 and all(label.startswith("model-") for label in labels)
    assert checkpoint_label("default") == "default"

    with initialize(version_base="1.3", config_path="../../configs"):
        register_resolvers()
        register_configs()
        outputs = set()
        for ckpt in [*runs, *plain]:
            cfg = compose(config_name="index", overrides=["data.name=tiny", f"checkpoint={ckpt}"])
            outputs.add((cfg.output, cfg.embeddings_dir))
        assert len(outputs) == 4
        assert ("outputs/index/tiny-tiny-listnet-s1-20250101-000000-000001-best-flat",
                "outputs/embeddings/tiny-tiny-listnet-s1-20250101-000000-000001-best") in outputs


def test_evaluate_default_output_is_named_after_the_run(tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "outputs" / "train" / "r1"
    best = BiEncoder.from_pretrained(tiny_model_dir).save_pretrained(run_dir / "checkpoints" / "best")
    (run_dir / "config.yaml").write_text("seed: 1\n")
    with initialize(version_base="1.3", config_path="../../configs"):
        register_resolvers()
        register_configs()
        cfg = compose(config_name="evaluate", overrides=[*beir_overrides(tiny_beir), f"checkpoint={best}"])
    run_evaluate(cfg)
    assert (tmp_path / "outputs" / "eval" / "tiny-r1-best-test" / "metrics.json").is_file()


def steps_of(metrics: Path, key: str) -> list[int]:
    return [r["step"] for r in map(json.loads, metrics.read_text().splitlines()) if key in r]


def test_metrics_jsonl_has_one_record_per_step_after_a_kill_and_resume(tiny_beir: Path, tiny_model_dir: Path,
                                                                       tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = train_args(tiny_beir, tiny_model_dir, run_dir, "train.max_steps=8", "train.save_every=3",
                      "train.eval_every=4")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "GRADEDPR_CRASH_AT": "train_step_logged@7"}
    killed = subprocess.run([sys.executable, "scripts/train.py", *args, f"hydra.run.dir={tmp_path}/hydra"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert steps_of(run_dir / "metrics.jsonl", "train/loss") == list(range(1, 8))  # killed after step 7
    assert json.loads((run_dir / "checkpoints" / "last" / "training_info.json").read_text())["step"] == 6

    resumed = run_script("train.py", [*args, f"resume_from={run_dir}/checkpoints/last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = run_dir / "metrics.jsonl"
    assert steps_of(metrics, "train/loss") == list(range(1, 9))
    assert steps_of(metrics, "dev/ndcg@10") == [4, 8]
    assert steps_of(metrics, "data/corpus") == [0]
    records = [json.dumps(r, sort_keys=True) for r in map(json.loads, metrics.read_text().splitlines())]
    assert not [r for r, n in Counter(records).items() if n > 1]

    # a new training into the same directory takes overwrite=true (issue 16) and starts metrics.jsonl afresh
    fresh = run_script("train.py", [*args, "overwrite=true"], tmp_path)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert steps_of(metrics, "train/loss") == list(range(1, 9))
