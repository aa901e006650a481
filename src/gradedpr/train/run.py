"""Build everything a training run needs from the Hydra config and run it (``scripts/train.py`` calls this)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gradedpr.data.from_config import collection_from_config
from gradedpr.data.negatives import build_negative_source
from gradedpr.data.sampler import GroupSampler
from gradedpr.evaluation.metrics import evaluate_run
from gradedpr.losses import get_loss
from gradedpr.model.biencoder import BiEncoder
from gradedpr.retrieval.pipeline import retrieve
from gradedpr.train.loggers import MetricsLogger
from gradedpr.train.trainer import Trainer, TrainResult, TrainSettings
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.device import pick_device
from gradedpr.utils.seeding import seed_everything

log = logging.getLogger(__name__)
_SETTING_KEYS = set(TrainSettings.__dataclass_fields__)


def model_overrides(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model_cfg.items() if k != "name_or_path"}


def run_training(cfg: DictConfig) -> TrainResult:
    """Train a dual encoder as ``cfg`` says; returns the evaluations and where the checkpoints are."""
    seed_everything(int(cfg.seed))
    run_dir = Path(str(cfg.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    t = cfg.train
    test_split = t.get("test_split")
    splits = ["train", str(t.eval_split)] + ([str(test_split)] if test_split else [])
    collection = collection_from_config(cfg.data, splits=list(dict.fromkeys(splits)))
    train_qrels = collection.qrels["train"]
    train_queries = collection.split_queries("train")

    start = cfg.resume_from or cfg.model.name_or_path
    model = BiEncoder.from_pretrained(str(start), **model_overrides(cfg.model))
    model.to(pick_device(str(cfg.device)))

    negatives = build_negative_source(
        str(t.negatives),
        collection.corpus,
        train_queries,
        depth=int(t.negatives_depth),
        run_file=t.negatives_run_file,
        data_negatives=collection.negatives,
    )
    sampler = GroupSampler(
        train_queries,
        train_qrels,
        collection.corpus.ids,
        negatives,
        group_size=int(t.group_size),
        max_positives=int(t.max_positives),
        seed=int(cfg.seed),
    )
    if sampler.skipped:
        log.warning("skipped %d training queries with no relevant document", len(sampler.skipped))
    loss_fn = get_loss(str(cfg.loss.name), **dict(cfg.loss.get("kwargs") or {}))
    train_values: dict[str, Any] = OmegaConf.to_container(t)  # type: ignore[assignment]
    settings = TrainSettings(**{k: v for k, v in train_values.items() if k in _SETTING_KEYS})

    def evaluate_on(split: str) -> Callable[[BiEncoder], Mapping[str, float]]:
        def evaluate(m: BiEncoder) -> Mapping[str, float]:
            run = retrieve(m, collection, split, k=int(t.eval_k), batch_size=int(t.eval_batch_size),
                           show_progress=False)
            return evaluate_run(run, collection.qrels[split]).mean

        return evaluate

    eval_split = str(t.eval_split)
    evaluate = evaluate_on(eval_split)

    logger = MetricsLogger(run_dir, cfg.logger, OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    logger.log({"data/train_queries": len(sampler), "data/skipped_queries": len(sampler.skipped),
                "data/corpus": len(collection.corpus)}, 0)
    trainer = Trainer(model, sampler, collection.corpus, loss_fn, settings, run_dir, evaluate=evaluate,
                      logger=logger, show_progress=bool(cfg.show_progress))
    if cfg.resume_from:
        trainer.resume(str(cfg.resume_from))
    try:
        result = trainer.train()
        if test_split:
            best = trainer.best_dir if trainer.best_dir.exists() else trainer.last_dir
            best_model = BiEncoder.from_pretrained(best).to(model.device)
            test_metrics = {f"{test_split}/{k}": v for k, v in evaluate_on(str(test_split))(best_model).items()}
            logger.log(test_metrics, result.steps)
            logger.summary(test_metrics)
            result.test_metrics = test_metrics
            summary = json.loads((run_dir / "train_summary.json").read_text(encoding="utf-8"))
            summary["test"] = test_metrics
            summary["test_checkpoint"] = str(best)
            atomic_write_text(run_dir / "train_summary.json", json.dumps(summary, indent=2) + "\n")
    finally:
        logger.close()
    first, last = result.evaluations[0], result.evaluations[-1]
    metric = f"dev/{settings.eval_metric}"
    print(
        f"\n{settings.eval_metric} on {eval_split}: step {first['step']} = {first.get(metric, float('nan')):.4f}"
        f" -> step {last['step']} = {last.get(metric, float('nan')):.4f}"
        f" (best {result.best_metric} at step {result.best_step})\n"
        f"checkpoints: {trainer.best_dir} (best), {trainer.last_dir} (last)\n"
        f"metrics: {run_dir / 'metrics.jsonl'}  |  skipped queries without a positive: {result.skipped_queries}"
    )
    return result
