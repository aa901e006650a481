"""The tool a user would pick instead of gradedpr: sentence-transformers' own fine-tuning of the same start
model (``SentenceTransformerTrainer`` with ``MultipleNegativesRankingLoss`` -- in-batch negatives, one
(query, relevant document) pair per row -- or its GradCache form ``CachedMultipleNegativesRankingLoss``), on
the same training judgments (every pair of a training query and a document it judges relevant, grades
ignored), stopped at a wall-clock budget, and scored by gradedpr's evaluator.

A run leaves what a blind study's run leaves (:mod:`gradedpr.study.blind`): ``config.yaml`` (the data),
``train_summary.json`` (steps, seconds, the dev value), ``checkpoints/best`` (the fine-tuned model: a plain HF
directory gradedpr loads with mean pooling and cosine, as the start model) and ``dev/`` (run file and per-query
values). Test is scored apart, like every blind run. sentence-transformers trains one shared encoder (both
queries and passages move), so dev and test re-encode the corpus. Defaults: batch 64 (MNRL gains from large
batches), the trainer's own default learning rate (5e-5), constant after 10 warmup steps (see
:func:`finetune`), 256 tokens.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from gradedpr.data.collection import Collection
from gradedpr.evaluation.report import write_run_and_metrics
from gradedpr.filenames import RUN_CONFIG, TRAIN_SUMMARY
from gradedpr.index.retrieval import retrieve
from gradedpr.model.biencoder import BiEncoder
from gradedpr.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)
ST_LOSSES = ("mnrl", "cached_mnrl")


def training_pairs(collection: Collection, split: str = "train", seed: int = 0) -> list[tuple[str, str]]:
    """Every (query text, document text) pair of ``split`` with grade > 0, shuffled with ``seed``."""
    queries = collection.split_queries(split)
    corpus = collection.corpus
    pairs = []
    for qid, judged in sorted(collection.qrels[split].items()):
        if qid not in queries:
            continue
        for docid, grade in sorted(judged.items()):
            if grade > 0:
                pairs.append((queries[qid], corpus.text(corpus.row(docid))))
    random.Random(seed).shuffle(pairs)
    return pairs


def finetune(start: str, pairs: list[tuple[str, str]], output: Path, *, loss: str, batch_size: int, lr: float,
             budget_seconds: float, max_steps: int, seed: int, warmup_steps: int = 10, mini_batch_size: int = 16,
             max_seq_length: int = 256) -> dict[str, Any]:
    """Fine-tune ``start`` with sentence-transformers until ``budget_seconds`` of training or ``max_steps``;
    save the model to ``output``. Returns steps, seconds and the learning rate of the last step.

    A wall-clock budget has no known last step, so the learning rate rises linearly over ``warmup_steps`` and
    then stays at ``lr`` (``constant_with_warmup``): a schedule spread over ``max_steps`` would leave a
    budget-stopped run in its warmup, at a small fraction of ``lr``."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.losses import CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers, SentenceTransformerTrainingArguments
    from transformers import TrainerCallback

    if loss not in ST_LOSSES:
        raise ValueError(f"loss must be one of {ST_LOSSES}, got {loss!r}")
    model = SentenceTransformer(start, device="cpu" if not _cuda() else None)
    model.max_seq_length = max_seq_length
    objective = (MultipleNegativesRankingLoss(model) if loss == "mnrl"
                 else CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size))
    data = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [d for _, d in pairs]})
    began = time.perf_counter()

    class Budget(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if time.perf_counter() - began > budget_seconds:
                control.should_training_stop = True
            return control

    args = SentenceTransformerTrainingArguments(
        output_dir=str(output.parent / "st_trainer"), max_steps=max_steps, per_device_train_batch_size=batch_size,
        learning_rate=lr, lr_scheduler_type="constant_with_warmup", warmup_steps=warmup_steps, seed=seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no", report_to="none", logging_steps=10, disable_tqdm=True, dataloader_pin_memory=False)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=objective,
                                         callbacks=[Budget()])
    result = trainer.train()
    seconds = time.perf_counter() - began
    model.save_pretrained(str(output))
    scheduler = trainer.lr_scheduler  # set by train()
    last_lr = float(scheduler.get_last_lr()[0]) if scheduler is not None else float("nan")
    return {"steps": int(result.global_step), "seconds": round(seconds, 1), "last_lr": last_lr}


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def run_st_baseline(data_cfg: Mapping[str, Any], collection: Collection, run_dir: Path, *, loss: str, seed: int,
                    budget_minutes: float = 10.0, batch_size: int = 64, lr: float = 5e-5, warmup_steps: int = 10,
                    max_steps: int = 100_000, passage_max_length: int = 256, dev_split: str = "dev",
                    start: str | None = None) -> dict[str, Any]:
    """One sentence-transformers run in the layout of a blind study's run; returns its summary."""
    from gradedpr.model.resolve import bundled_minilm_path

    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / RUN_CONFIG, OmegaConf.to_yaml({
        "data": dict(data_cfg), "seed": seed,
        "train": {"regime": "sentence_transformers", "embeddings_dir": None, "loss": loss, "batch_size": batch_size,
                  "lr": lr, "warmup_steps": warmup_steps, "budget_minutes": budget_minutes,
                  "max_steps": max_steps}}))
    pairs = training_pairs(collection, "train", seed)
    best = run_dir / "checkpoints" / "best"
    trained = finetune(start or str(bundled_minilm_path()), pairs, best, loss=loss, batch_size=batch_size, lr=lr,
                       budget_seconds=budget_minutes * 60, max_steps=max_steps, seed=seed, warmup_steps=warmup_steps)
    model = BiEncoder.from_pretrained(best, passage_max_length=passage_max_length)
    result = write_run_and_metrics(retrieve(model, collection, dev_split, k=100, show_progress=False),
                                   collection.qrels[dev_split], run_dir / dev_split, tag=f"{run_dir.name}-best",
                                   extra={"split": dev_split, "selected": "trained"})
    summary = {**trained, "pairs": len(pairs), "best_step": trained["steps"], "selected": "trained",
               "best_dev_metric": result.mean["ndcg@10"], "eval_metric": "ndcg@10"}
    atomic_write_text(run_dir / TRAIN_SUMMARY, json.dumps(summary, indent=2) + "\n")
    log.info("sentence-transformers %s: %d steps in %.0f s, dev ndcg@10 %.4f", loss, trained["steps"],
             trained["seconds"], result.mean["ndcg@10"])
    return summary
