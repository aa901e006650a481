"""The start-model guard: a trained model replaces the model it started from only when it is better on dev
by a paired test, so that the best of several noisy dev evaluations is not taken for a gain.

On a small collection the best-dev checkpoint is the maximum of ten or so noisy means over few queries; it
beats the start model on dev by construction even when training made the model worse for unseen queries. The
guard asks more of it: its per-query dev values must beat the start model's with a two-sided paired
randomisation test (Smucker et al., CIKM 2007) at ``p < level`` and a higher mean. Otherwise the run keeps
the start model and says so.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradedpr.errors import OutputError
from gradedpr.evaluation.metrics import EvalResult, evaluate_run
from gradedpr.evaluation.report import write_run_and_metrics
from gradedpr.evaluation.significance import randomization_test
from gradedpr.filenames import TRAIN_SUMMARY
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.config import CONFIG_NAME
from gradedpr.train.interpolate import choose_mix
from gradedpr.types import Run
from gradedpr.utils.atomic import atomic_write_text

if TYPE_CHECKING:
    from gradedpr.train.trainer import Trainer

log = logging.getLogger(__name__)
TRAINED_BEST = "trained_best"
"""Where a checkpoint the guard refused is kept (``checkpoints/trained_best``)."""


@dataclass(frozen=True)
class GuardDecision:
    """The outcome of :func:`guard`: means, their difference, the p-value and which model is kept."""

    start: float
    trained: float
    diff: float
    p: float
    level: float
    queries: int
    keep_trained: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, metric: str) -> str:
        verdict = "keeps the trained model" if self.keep_trained else "keeps the START model"
        return (f"guard: dev {metric} start {self.start:.4f}, trained {self.trained:.4f} ({self.diff:+.4f}, "
                f"paired p = {self.p:.4f} over {self.queries} queries, level {self.level:g}): {verdict}")


def guard(start: Mapping[str, float], trained: Mapping[str, float], level: float,
          n_permutations: int = 10000, seed: int = 0) -> GuardDecision:
    """Compare per-query dev values (the same queries in both) and decide whether the trained model is kept."""
    if sorted(start) != sorted(trained):
        raise ValueError("the guard needs per-query values of the same dev queries for both models")
    qids = sorted(start)
    a = np.array([trained[q] for q in qids], dtype=np.float64)
    b = np.array([start[q] for q in qids], dtype=np.float64)
    diff = float(a.mean() - b.mean())
    p = 1.0 if len(qids) < 2 or not np.any(a != b) else randomization_test(a, b, n_permutations, seed)
    return GuardDecision(start=float(b.mean()), trained=float(a.mean()), diff=diff, p=p, level=level,
                         queries=len(qids), keep_trained=diff > 0 and p < level)


def apply_guard(trainer: Trainer, load_start: Callable[[], BiEncoder], dev_qrels: Mapping[str, Mapping[str, int]],
                retrieve_dev: Callable[[BiEncoder], Run], level: float | None,
                alphas: Sequence[float] = ()) -> int:
    """Choose what ``checkpoints/best`` holds after training (rank 0).

    1. With ``alphas`` (``train.interpolate``): the best-dev checkpoint is mixed with the start model's weights
       (:mod:`gradedpr.train.interpolate`); the mix with the best dev value replaces it.
    2. With ``level`` (``train.guard_p``): the candidate is compared with the start model on dev per query
       (:func:`guard`); when it is not kept, ``checkpoints/best`` becomes the start model.
    A refused candidate (the trained checkpoint, or its mix) moves to ``checkpoints/trained_best``: what the run
    would have selected without the guard. Records ``selected`` (``trained`` or
    ``start``), ``guard`` and ``interpolation`` in ``train_summary.json``, and the selected model's dev run and
    per-query values in ``<run_dir>/<eval split>/`` (``run.trec``, ``metrics.json``). Returns the step of the model
    kept (0: the start model)."""
    metric, split = trainer.s.eval_metric, trainer.s.eval_split
    summary_path = trainer.run_dir / TRAIN_SUMMARY
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    start_model = load_start().to(trainer.model.device)
    start_run = retrieve_dev(start_model)
    start_result = evaluate_run(start_run, dev_qrels, [metric])
    decision: GuardDecision | None = None
    aside = trainer.best_dir.with_name(TRAINED_BEST)
    if trainer.best_step not in (None, 0) and trainer.best_dir.exists():
        best_model = BiEncoder.from_pretrained(trainer.best_dir).to(trainer.model.device)
        best_model.accel = trainer.model.accel
        best_run = retrieve_dev(best_model)
        best_result = evaluate_run(best_run, dev_qrels, [metric])
        if alphas:
            def dev_of(m: BiEncoder) -> tuple[float, tuple[Run, EvalResult]]:
                run = retrieve_dev(m)
                result = evaluate_run(run, dev_qrels, [metric])
                return result.mean[metric], (run, result)

            choice, mixed, (best_run, best_result) = choose_mix(
                start_model, best_model, alphas, (best_result.mean[metric], (best_run, best_result)), dev_of)
            summary["interpolation"] = {"alpha": choice.alpha, "dev": {str(a): v for a, v in choice.dev.items()}}
            log.info("interpolation with the start model: dev %s %s; alpha %g kept", metric,
                     ", ".join(f"{a:g}: {v:.4f}" for a, v in sorted(choice.dev.items())), choice.alpha)
            if choice.alpha < 1:  # the mix is the candidate from now on
                trainer.save(trainer.best_dir, with_state=False, model=mixed)
        keep = True
        if level is not None:
            decision = guard({q: v[metric] for q, v in start_result.per_query.items()},
                             {q: v[metric] for q, v in best_result.per_query.items()}, level)
            log.info(decision.describe(metric))
            keep = decision.keep_trained
        selected, kept_run = ("trained", best_run) if keep else ("start", start_run)
    else:
        log.info("the best dev checkpoint is the start model (step 0); it is kept")
        selected, kept_run = "start", start_run
    if selected == "start":
        if decision is not None:  # the refused candidate stays inspectable
            _move_checkpoint(trainer.best_dir, aside)
        trainer.save(trainer.best_dir, with_state=False, model=start_model)
    write_run_and_metrics(kept_run, dev_qrels, trainer.run_dir / split, tag=f"{trainer.run_dir.name}-{selected}",
                          extra={"split": split, "selected": selected})
    selected_step = trainer.best_step if selected == "trained" and trainer.best_step is not None else 0
    summary["selected"] = selected
    summary["selected_step"] = selected_step
    summary["guard"] = decision.to_dict() if decision else None
    atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")
    return selected_step


def _move_checkpoint(source: Path, target: Path) -> None:
    """Rename checkpoint ``source`` to ``target``, replacing an earlier gradedpr checkpoint there (never a
    directory gradedpr did not write)."""
    if target.exists():
        if not (target / CONFIG_NAME).is_file():
            raise OutputError(f"{target}: exists and is not a gradedpr checkpoint; not replaced")
        shutil.rmtree(target)
    os.replace(source, target)
