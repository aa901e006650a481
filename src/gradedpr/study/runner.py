"""Run a study: every planned training run as its own process (finished ones are skipped), then baselines.

Each run is ``scripts/train.py`` with the regime's overrides plus ``loss=... seed=...`` (what a Hydra multirun
over ``loss`` and ``seed`` would launch, one process per run so that a crash or a kill loses one run, not the
study, and a rerun continues where it stopped). Wall time per run is measured around the process; a run resumed
after an interruption adds the training seconds of its earlier processes (its summary's
``seconds_before_resume``), so a resumed run's minutes are not only its last segment's.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from omegaconf import OmegaConf

from gradedpr.data.from_config import collection_from_config
from gradedpr.errors import StudyRunError
from gradedpr.evaluation.report import write_run_and_metrics
from gradedpr.filenames import METRICS_FILE, TRAIN_SUMMARY, TRAINER_STATE
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import build_dense_index, retrieve
from gradedpr.model.biencoder import BiEncoder
from gradedpr.study.baselines import bm25_run
from gradedpr.study.plan import PlannedRun
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.device import pick_device

log = logging.getLogger(__name__)
WALL_FILE = "study_wall.json"
CONSOLE_LOG = "console.log"
"""A run's console output (stdout and stderr: its one-line error, if it fails). Its log records are in
``train.log``, which ``scripts/train.py`` writes itself (the console copy there doubled every line)."""


def is_finished(run: PlannedRun, split: str, blind: bool = False) -> bool:
    """A run is finished when its summary holds the test metrics and its per-query test file exists (``blind``:
    when its summary and its best checkpoint exist; test is scored apart)."""
    summary = run.run_dir / TRAIN_SUMMARY
    if blind:
        return summary.is_file() and (run.run_dir / "checkpoints" / "best").is_dir()
    if not summary.is_file() or not (run.run_dir / split / METRICS_FILE).is_file():
        return False
    return "test" in json.loads(summary.read_text(encoding="utf-8"))


def execute(
    runs: Sequence[PlannedRun], split: str, python: str | None = None, threads: int | None = None, jobs: int = 1,
    blind: bool = False,
) -> None:
    """Run every unfinished run, ``jobs`` at a time; each run's console output goes to ``run_dir/console.log``.
    A run with ``after`` starts once that run has finished (its ``train_summary.json``).

    ``threads`` sets OMP/MKL threads per run: on a CPU, ``jobs x threads`` should not exceed the cores (more
    threads than cores makes every run several times slower, not faster).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    python = python or sys.executable
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    todo = [r for r in runs if not is_finished(r, split, blind)]
    print(f"study: {len(runs)} runs, {len(runs) - len(todo)} already finished, {len(todo)} to go", flush=True)
    running: list[tuple[PlannedRun, subprocess.Popen[bytes], IO[str], float]] = []
    finished = 0
    failed: list[PlannedRun] = []
    pending = list(todo)
    while pending or running:
        while pending and len(running) < jobs:
            ready = [r for r in pending if r.after is None or (r.after / TRAIN_SUMMARY).is_file()]
            if not ready:
                if running:  # waiting for the runs whose checkpoints they start from
                    break
                for run in pending:  # nothing left that could finish their start models
                    failed.append(run)
                    print(f"{run.name}: NOT RUN, its start model {run.after} did not finish", flush=True)
                pending.clear()
                break
            run = ready[0]
            pending.remove(run)
            running.append((run, *_start(run, python, env), time.perf_counter()))
        time.sleep(0.5)
        for entry in list(running):
            run, process, out, began = entry
            code = process.poll()
            if code is None:
                continue
            running.remove(entry)
            out.close()
            seconds = time.perf_counter() - began + _seconds_before_resume(run)
            finished += 1
            if code != 0:
                failed.append(run)
                print(f"[{finished}/{len(todo)}] {run.name}: FAILED (exit {code}), see {run.run_dir / CONSOLE_LOG}",
                      flush=True)
                continue
            load = os.getloadavg()[0]
            atomic_write_text(run.run_dir / WALL_FILE,
                              json.dumps({"seconds": round(seconds, 1), "load1": load, "jobs": jobs,
                                          "threads": threads}) + "\n")
            print(f"[{finished}/{len(todo)}] {run.name}: {seconds / 60:.1f} min (load {load:.1f})", flush=True)
    if failed:
        raise StudyRunError(f"{len(failed)} study run(s) failed: {', '.join(r.name for r in failed)}"
                            f"{_last_words(failed[0])}")


def _seconds_before_resume(run: PlannedRun) -> float:
    """Training seconds of a resumed run's earlier processes, from its ``train_summary.json`` (0 if none)."""
    try:
        summary = json.loads((run.run_dir / TRAIN_SUMMARY).read_text(encoding="utf-8"))
        return float(summary.get("seconds_before_resume", 0.0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0


def _last_words(run: PlannedRun) -> str:
    """The last non-empty line of a failed run's console output (its error), for the study's one-line error."""
    log = run.run_dir / CONSOLE_LOG
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    last = next((line for line in reversed(lines) if line), "")
    return f" (first, {log}: {last})" if last else ""


def _start(run: PlannedRun, python: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], IO[str]]:
    """Launch one run (resumed from its last checkpoint when an earlier start was interrupted), its output
    appended to (resumed) or written into ``run_dir/console.log``."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    last = run.run_dir / "checkpoints" / "last"
    resume = (last / TRAINER_STATE).is_file()
    command = run.command(python) + ([f"resume_from={last}"] if resume else [])
    out: IO[str] = open(run.run_dir / CONSOLE_LOG, "a" if resume else "w", encoding="utf-8")  # noqa: SIM115
    if resume:
        print(f"{run.name}: resuming from {last}", flush=True)
    return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env), out


def run_baselines(cfg: Any, output: Path, splits: Sequence[str]) -> None:
    """Zero-shot start model (through the frozen regime's passage store when it exists) and BM25 run files."""
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    assert isinstance(data_cfg, dict)
    collection = collection_from_config({str(k): v for k, v in data_cfg.items()}, splits=list(splits))
    zs = cfg.zeroshot
    for split in splits:
        target = output / "baselines" / "bm25" / split
        if not (target / METRICS_FILE).is_file():
            run = bm25_run(collection, collection.split_queries(split))
            result = write_run_and_metrics(run, collection.qrels[split], target, tag="bm25", extra={"split": split})
            print(f"bm25 {split}: ndcg@10 {result.mean['ndcg@10']:.4f}", flush=True)
    model: BiEncoder | None = None
    for split in splits:
        target = output / "baselines" / "zeroshot" / split
        if (target / METRICS_FILE).is_file():
            continue
        if model is None:
            model = BiEncoder.from_pretrained(str(zs.checkpoint), passage_max_length=int(zs.passage_max_length))
            model.to(pick_device("auto"))
            index = build_dense_index(model, collection.corpus, IndexSpec("flat"),
                                      embeddings_dir=zs.get("embeddings_dir"), show_progress=False)
            assert index is not None
        run = retrieve(model, collection, split, k=1000, index=index, show_progress=False)
        result = write_run_and_metrics(run, collection.qrels[split], target, tag="zeroshot", extra={"split": split})
        print(f"zeroshot {split}: ndcg@10 {result.mean['ndcg@10']:.4f}", flush=True)
