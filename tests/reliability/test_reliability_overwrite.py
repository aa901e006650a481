"""One overwrite rule for every command (issue 16, items 2 and 4).

``scripts/train.py`` into a finished run directory without ``resume_from`` used to replace its best and last
checkpoints and truncate ``metrics.jsonl`` (exit 0, no warning), and Hydra rewrote the run's ``.hydra/`` files
even for a start that was then refused; ``scripts/evaluate.py output=<dir>`` overwrote a user's ``run.trec`` /
``metrics.json``; re-exporting over an earlier export deleted files the user had added to it. Now each command
refuses in one line (exit 2) unless ``overwrite=true``, and even then replaces only gradedpr's own files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reliability_helpers import ROOT, assert_one_line_error, beir_overrides, run_forked


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.suffix != ".log" and p.name != ".lock"}


def train_args(root: Path, model_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [*beir_overrides(root), f"model.name_or_path={model_dir}", f"run_dir={run_dir}", "logger=none",
            "train.batch_size=2", "train.group_size=2", "train.max_positives=1", "train.eval_k=10",
            "train.eval_at_start=false", "train.max_steps=2", "train.test_split=null", *extra]


def hydra_train(root: Path, model_dir: Path, *extra: str) -> list[str]:
    """Train into Hydra's run directory (``<d>/hydra`` of :func:`run_forked`), where Hydra's record goes too."""
    return [a for a in train_args(root, model_dir, Path(), *extra) if not a.startswith("run_dir=")]


def test_train_into_a_finished_run_is_refused_without_overwrite(tiny_beir: Path, tiny_model_dir: Path,
                                                                 tmp_path: Path) -> None:
    first = run_forked("train.py", hydra_train(tiny_beir, tiny_model_dir), tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    run = tmp_path / "hydra"
    assert (run / ".hydra" / "overrides.yaml").is_file() and (run / "checkpoints" / "last").is_dir()
    before = snapshot(run)
    again = run_forked("train.py", hydra_train(tiny_beir, tiny_model_dir, "seed=7"), tmp_path)
    assert_one_line_error(again, f"{run}: already holds a training run", f"resume_from={run}/checkpoints/last",
                          "overwrite=true")
    assert snapshot(run) == before  # checkpoints, metrics.jsonl and Hydra's record untouched
    replaced = run_forked("train.py", hydra_train(tiny_beir, tiny_model_dir, "seed=7", "overwrite=true"), tmp_path)
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert "seed=7" in (run / ".hydra" / "overrides.yaml").read_text()


def test_a_run_dir_with_user_files_needs_overwrite_and_keeps_them(tiny_beir: Path, tiny_model_dir: Path,
                                                                  tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.md").write_text("mine\n")
    refused = run_forked("train.py", train_args(tiny_beir, tiny_model_dir, run), tmp_path)
    assert_one_line_error(refused, f"{run}: holds 'notes.md', which gradedpr did not write", "overwrite=true")
    assert sorted(p.name for p in run.iterdir()) == ["notes.md"]
    done = run_forked("train.py", train_args(tiny_beir, tiny_model_dir, run, "overwrite=true"), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run / "notes.md").read_text() == "mine\n" and (run / "checkpoints" / "last").is_dir()


def test_a_foreign_checkpoints_best_is_refused_before_training(tiny_beir: Path, tiny_model_dir: Path,
                                                               tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints" / "best").mkdir(parents=True)
    (run / "checkpoints" / "best" / "mine.txt").write_text("x")
    for extra in ([], ["overwrite=true"]):
        result = run_forked("train.py", train_args(tiny_beir, tiny_model_dir, run, *extra, "train.eval_every=1"),
                            tmp_path)
        assert_one_line_error(result, f"{run}/checkpoints/best", "is not a gradedpr checkpoint")
    assert not (run / "metrics.jsonl").exists()  # refused before the first step, not at the first save
    assert (run / "checkpoints" / "best" / "mine.txt").read_text() == "x"


def test_evaluate_output_replaces_its_files_only_with_overwrite(tiny_beir: Path, tiny_model_dir: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "eval"
    out.mkdir()
    (out / "run.trec").write_text("mine\n")
    (out / "metrics.json").write_text("{}\n")
    (out / "notes.md").write_text("mine\n")
    args = [*beir_overrides(tiny_beir), f"checkpoint={tiny_model_dir}", f"output={out}", "k=100"]
    refused = run_forked("evaluate.py", args, tmp_path)
    assert_one_line_error(refused, f"{out}: already holds 'run.trec', 'metrics.json'", "overwrite=true")
    assert (out / "run.trec").read_text() == "mine\n" and (out / "metrics.json").read_text() == "{}\n"
    done = run_forked("evaluate.py", [*args, "overwrite=true"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "run.trec").read_text() != "mine\n" and (out / "notes.md").read_text() == "mine\n"
    run_file = tmp_path / "given.trec"
    run_file.write_text("q4 Q0 d4 1 1.0 x\n")
    scored = run_forked("evaluate.py", [*beir_overrides(tiny_beir), f"run={run_file}", f"output={out}"], tmp_path)
    assert_one_line_error(scored, f"{out}: already holds 'metrics.json'")


def test_reexport_needs_overwrite_and_keeps_the_users_files(tiny_model_dir: Path, tmp_path: Path) -> None:
    from gradedpr.model.biencoder import BiEncoder

    ckpt = BiEncoder.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "export"
    args = [f"checkpoint={ckpt}", f"output={out}", "verify=false"]
    first = run_forked("export.py", args, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    (out / "notes.md").write_text("mine\n")
    before = snapshot(out)
    again = run_forked("export.py", args, tmp_path)
    assert_one_line_error(again, f"{out}: already holds a gradedpr export; pass overwrite=true")
    assert snapshot(out) == before
    replaced = run_forked("export.py", [*args, "overwrite=true"], tmp_path)
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert (out / "notes.md").read_text() == "mine\n"


def test_a_second_process_refused_by_the_lock_leaves_the_winners_hydra_record(tiny_beir: Path, tiny_model_dir: Path,
                                                                              tmp_path: Path) -> None:
    """Hydra used to write ``.hydra/`` before the command ran, so a second training into a run directory that
    a live process holds rewrote the winner's record before being refused."""
    run = tmp_path / "hydra"  # run_forked's Hydra run directory
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- the winner's overrides\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom gradedpr.utils.runlock import hold_run_dir\n"
         "with hold_run_dir(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n", str(run)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_forked("train.py", hydra_train(tiny_beir, tiny_model_dir, "seed=7"), tmp_path)
        assert_one_line_error(result, f"{run}: the run directory is in use by PID {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert (run / ".hydra" / "overrides.yaml").read_text() == "- the winner's overrides\n"
    assert sorted(p.name for p in (run / ".hydra").iterdir()) == ["overrides.yaml"]
