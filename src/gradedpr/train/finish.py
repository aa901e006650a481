"""The end of a training run on rank 0: which checkpoint ``checkpoints/best`` keeps (the start-model guard and
WiSE-FT interpolation, :mod:`gradedpr.train.guard`), that checkpoint scored on the test split (``<run>/<test>/``
run file and metrics, ``train_summary.json``, the checkpoint's card), ``curves.png`` and the report in
``train.log``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from gradedpr.evaluation.report import write_run_and_metrics
from gradedpr.filenames import TRAIN_SUMMARY
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.card import refresh_checkpoint_card
from gradedpr.train.curves import write_curves
from gradedpr.train.guard import apply_guard
from gradedpr.train.loggers import MetricsLogger
from gradedpr.train.report import report_training
from gradedpr.train.split_eval import SplitRetrieval
from gradedpr.train.trainer import Trainer, TrainResult
from gradedpr.utils.atomic import atomic_write_text


def train_and_finish(trainer: Trainer, retrieval: SplitRetrieval, load_start: Callable[[], BiEncoder],
                     logger: MetricsLogger) -> TrainResult:
    """Train; then, on rank 0, select the checkpoint kept, score it on the test split, draw the curves and
    report. The logger is closed whatever happens."""
    s, run_dir = trainer.s, trainer.run_dir
    try:
        result = trainer.train()
        if not trainer.dist.is_main:
            return result
        selected_step = result.best_step
        if s.guard_p is not None or s.interpolate:  # the checkpoint kept may be the start model (step 0)
            selected_step = apply_guard(trainer, load_start, retrieval.collection.qrels[s.eval_split],
                                        lambda m: retrieval.run(m, s.eval_split), s.guard_p, s.interpolate)
        if s.test_split:
            result.test_metrics = score_test_split(trainer, retrieval, str(s.test_split))
            logger.log(result.test_metrics, result.steps)
            logger.summary(result.test_metrics)
        write_curves(run_dir, s.eval_metric, selected_step, split=s.eval_split)  # curves.png (+ wandb)
    finally:
        logger.close()
    report_training(result, eval_metric=s.eval_metric, eval_split=s.eval_split, test_split=s.test_split,
                    best_dir=trainer.best_dir, last_dir=trainer.last_dir, run_dir=run_dir)
    return result


def score_test_split(trainer: Trainer, retrieval: SplitRetrieval, split: str) -> dict[str, float]:
    """The kept checkpoint (``best``, else ``last``) on ``split``: its run and metrics in ``<run>/<split>/``,
    the means in ``train_summary.json`` and on the checkpoint's card; returns ``{"<split>/<measure>": mean}``."""
    run_dir = trainer.run_dir
    best: Path = trainer.best_dir if trainer.best_dir.exists() else trainer.last_dir
    model = BiEncoder.from_pretrained(best).to(trainer.model.device)
    model.accel = trainer.model.accel
    result = write_run_and_metrics(retrieval.run(model, split), retrieval.collection.qrels[split], run_dir / split,
                                   tag=f"{run_dir.name}-{best.name}",
                                   extra={"split": split, "model": model.config.to_dict()})
    metrics = {f"{split}/{k}": v for k, v in result.mean.items()}
    summary = json.loads((run_dir / TRAIN_SUMMARY).read_text(encoding="utf-8"))
    summary["test"] = metrics
    summary["test_checkpoint"] = str(best)
    atomic_write_text(run_dir / TRAIN_SUMMARY, json.dumps(summary, indent=2) + "\n")
    refresh_checkpoint_card(best, run_dir)  # the card now shows the test metrics too
    return metrics
