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
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradedpr.errors import OutputError
from gradedpr.evaluation.metrics import evaluate_run
from gradedpr.evaluation.report import write_run_and_metrics
from gradedpr.evaluation.significance import randomization_test
from gradedpr.filenames import TRAIN_SUMMARY
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.config import CONFIG_NAME
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
                retrieve_dev: Callable[[BiEncoder], Run], level: float) -> GuardDecision | None:
    """Run the guard after training (rank 0): compare the best checkpoint with the start model on dev per query;
    when the trained model is not kept, ``checkpoints/best`` becomes the start model (the refused checkpoint
    moves to ``checkpoints/trained_best``). Records the decision in
    ``train_summary.json`` (``guard``, ``selected``) and the selected model's dev run and per-query values in
    ``<run_dir>/<eval split>/`` (``run.trec``, ``metrics.json``)."""
    metric, split = trainer.s.eval_metric, trainer.s.eval_split
    summary_path = trainer.run_dir / TRAIN_SUMMARY
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    start_model = load_start().to(trainer.model.device)
    start_run = retrieve_dev(start_model)
    start_result = evaluate_run(start_run, dev_qrels, [metric])
    decision: GuardDecision | None = None
    if trainer.best_step not in (None, 0) and trainer.best_dir.exists():
        best_model = BiEncoder.from_pretrained(trainer.best_dir).to(trainer.model.device)
        best_run = retrieve_dev(best_model)
        best_result = evaluate_run(best_run, dev_qrels, [metric])
        decision = guard({q: v[metric] for q, v in start_result.per_query.items()},
                         {q: v[metric] for q, v in best_result.per_query.items()}, level)
        log.info(decision.describe(metric))
        selected, kept_run = ("trained", best_run) if decision.keep_trained else ("start", start_run)
    else:
        log.info("guard: the best dev checkpoint is the start model (step 0); it is kept")
        selected, kept_run = "start", start_run
    if selected == "start":
        if decision is not None:  # the refused checkpoint stays inspectable beside the kept start model
            _move_checkpoint(trainer.best_dir, trainer.best_dir.with_name(TRAINED_BEST))
        trainer.save(trainer.best_dir, with_state=False, model=start_model)
    write_run_and_metrics(kept_run, dev_qrels, trainer.run_dir / split, tag=f"{trainer.run_dir.name}-{selected}",
                          extra={"split": split, "selected": selected})
    summary["selected"] = selected
    summary["selected_step"] = trainer.best_step if selected == "trained" else 0
    summary["guard"] = decision.to_dict() if decision else None
    atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")
    return decision


def _move_checkpoint(source: Path, target: Path) -> None:
    """Rename checkpoint ``source`` to ``target``, replacing an earlier gradedpr checkpoint there (never a
    directory gradedpr did not write)."""
    if target.exists():
        if not (target / CONFIG_NAME).is_file():
            raise OutputError(f"{target}: exists and is not a gradedpr checkpoint; not replaced")
        shutil.rmtree(target)
    os.replace(source, target)
