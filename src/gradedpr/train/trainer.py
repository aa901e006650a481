"""The training loop: AdamW, warmup + linear decay, accumulation, clipping, bf16 on CUDA, dev evaluation,
best / last checkpoints with everything needed to resume (optimiser, scheduler, RNG, data position)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from gradedpr.config.schema import TrainConfig
from gradedpr.data.collection import Corpus
from gradedpr.data.sampler import GroupSampler
from gradedpr.errors import CheckpointError
from gradedpr.losses.registry import BoundLoss
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.card import CARD_FILE, checkpoint_card
from gradedpr.train.loggers import MetricsLogger
from gradedpr.train.optim import build_optimizer, linear_warmup_decay
from gradedpr.train.resume_check import STATE_FILE, check_resume_settings
from gradedpr.train.step import InBatchStep, StepFn, grad_norm
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.device import autocast
from gradedpr.utils.seeding import rng_state, set_rng_state
from gradedpr.utils.torch_state import load_plain_state

log = logging.getLogger(__name__)
EvalFn = Callable[[BiEncoder], Mapping[str, float]]


TrainSettings = TrainConfig
"""The trainer's settings are the ``train`` config group: :class:`gradedpr.config.schema.TrainConfig` (every
default and its validation are defined there, once)."""


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_step: int | None = None
    skipped_queries: int = 0
    seconds: float = 0.0
    test_metrics: dict[str, float] = field(default_factory=dict)


class Trainer:
    """Fine-tunes a :class:`BiEncoder` on :class:`GroupSampler` batches with a listwise ``loss_fn``."""

    def __init__(
        self,
        model: BiEncoder,
        sampler: GroupSampler,
        corpus: Corpus,
        loss_fn: BoundLoss,
        settings: TrainSettings,
        run_dir: str | Path,
        *,
        evaluate: EvalFn | None = None,
        logger: MetricsLogger | None = None,
        show_progress: bool = True,
        step: StepFn | None = None,
        refresh: Callable[[BiEncoder, int], None] | None = None,
        refresh_every: int = 0,
    ) -> None:
        self.model = model
        self.step_fn = step or InBatchStep(model, corpus, sampler.qrels, settings.group_size, loss_fn)
        self.refresh_fn = refresh
        self.refresh_every = refresh_every
        self.sampler = sampler
        self.corpus = corpus
        self.loss_fn = loss_fn
        self.s = settings
        self.run_dir = Path(run_dir)
        self.evaluate_fn = evaluate
        self.logger = logger or MetricsLogger(self.run_dir, None, {})
        self.show_progress = show_progress
        self.device = model.device
        self.optimizer = build_optimizer(model, settings.lr, settings.weight_decay)
        warmup = int(settings.warmup_ratio * settings.max_steps)
        self.scheduler = linear_warmup_decay(self.optimizer, warmup, settings.max_steps)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.evaluations: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ checkpoints
    @property
    def best_dir(self) -> Path:
        return self.run_dir / "checkpoints" / "best"

    @property
    def last_dir(self) -> Path:
        return self.run_dir / "checkpoints" / "last"

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "evaluations": self.evaluations,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "settings": asdict(self.s),
        }

    def save(self, directory: Path, with_state: bool) -> None:
        extra: dict[str, Any] = {STATE_FILE: self._state()} if with_state else {}
        info = {"step": self.step, "epoch": self.epoch, "best_metric": self.best_metric}
        extra["training_info.json"] = json.dumps(info, indent=2) + "\n"
        extra[CARD_FILE] = checkpoint_card(self.model.config, self.run_dir, dim=self.model.dim, step=self.step,
                                           best_step=self.best_step, evaluations=self.evaluations,
                                           train_settings=asdict(self.s))
        self.model.save_pretrained(directory, extra_files=extra)

    def resume(self, checkpoint: str | Path) -> None:
        """Restore optimiser, scheduler, RNG and data position from a ``last`` checkpoint.

        The model weights are loaded by the caller from the same directory (``BiEncoder.from_pretrained``).
        """
        path = Path(checkpoint) / STATE_FILE
        if not path.exists():
            raise CheckpointError(f"{path}: no trainer state to resume from (use a checkpoints/last directory)")
        state = load_plain_state(path)  # weights_only: refuses pickled objects that would run code
        check_resume_settings({"train": state.get("settings") or {}}, {"train": asdict(self.s)}, str(path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best_metric, self.best_step = state["best_metric"], state["best_step"]
        self.evaluations = list(state["evaluations"])
        log.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, self.step, self.epoch,
                 self.batch_in_epoch)

    # ------------------------------------------------------------------ evaluation
    def run_evaluation(self) -> dict[str, float] | None:
        if self.evaluate_fn is None:
            return None
        started = time.perf_counter()
        metrics = {f"dev/{k}": float(v) for k, v in self.evaluate_fn(self.model).items()}
        metrics["dev/seconds"] = time.perf_counter() - started
        self.logger.log(metrics, self.step)
        self.evaluations.append({"step": self.step, **metrics})
        value = metrics.get(f"dev/{self.s.eval_metric}")
        if value is not None and (self.best_metric is None or value > self.best_metric):
            self.best_metric, self.best_step = value, self.step
            if self.s.save_best:
                self.save(self.best_dir, with_state=False)
        tqdm.write(f"step {self.step}: " + "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        return metrics

    # ------------------------------------------------------------------ loop
    def _batches(self) -> Any:
        while True:
            for groups in self.sampler.batches(self.s.batch_size, self.epoch, start=self.batch_in_epoch):
                self.batch_in_epoch += 1
                yield groups
            self.epoch += 1
            self.batch_in_epoch = 0

    def train(self) -> TrainResult:
        started = time.perf_counter()
        if self.step == 0 and self.s.eval_at_start:
            self.run_evaluation()
        self.model.train()
        batches = self._batches()
        params = [p for p in self.model.parameters() if p.requires_grad]
        total = 0.0
        bar = tqdm(total=self.s.max_steps, initial=self.step, desc="train", unit="step",
                   disable=not self.show_progress, dynamic_ncols=True)
        while self.step < self.s.max_steps:
            self.optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for _ in range(self.s.grad_accum):
                groups = next(batches)
                with autocast(self.device, self.s.bf16):
                    loss = self.step_fn(groups) / self.s.grad_accum
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss at step {self.step}: {loss.item()}")
                loss.backward()
                total += float(loss.detach())
            if self.s.max_grad_norm > 0:  # the norm before clipping, computed once
                norm = float(torch.nn.utils.clip_grad_norm_(params, self.s.max_grad_norm))
            else:
                norm = grad_norm(params)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            if self.step % self.s.log_every == 0:
                lr = self.scheduler.get_last_lr()[0]
                self.logger.log({"train/loss": total, "train/lr": lr, "train/grad_norm": norm,
                                 "train/epoch": self.epoch}, self.step)
            if self.s.eval_every > 0 and self.step % self.s.eval_every == 0 and self.step < self.s.max_steps:
                self.run_evaluation()
                self.model.train()
            if (self.refresh_fn is not None and self.refresh_every > 0 and self.step % self.refresh_every == 0
                    and self.step < self.s.max_steps):
                self.refresh_fn(self.model, self.step)
                self.model.train()
            if self.s.save_every > 0 and self.step % self.s.save_every == 0 and self.step < self.s.max_steps:
                self.save(self.last_dir, with_state=True)
        bar.close()
        if not self.evaluations or self.evaluations[-1]["step"] != self.step:
            self.run_evaluation()
        self.save(self.last_dir, with_state=True)
        result = TrainResult(
            run_dir=self.run_dir,
            steps=self.step,
            evaluations=self.evaluations,
            best_metric=self.best_metric,
            best_step=self.best_step,
            skipped_queries=len(self.sampler.skipped),
            seconds=time.perf_counter() - started,
        )
        summary = {
            "steps": result.steps,
            "best_step": result.best_step,
            "best_dev_metric": result.best_metric,
            "eval_metric": self.s.eval_metric,
            "skipped_queries": result.skipped_queries,
            "seconds": round(result.seconds, 2),
            "evaluations": result.evaluations,
        }
        atomic_write_text(self.run_dir / "train_summary.json", json.dumps(summary, indent=2) + "\n")
        self.logger.summary({k: v for k, v in summary.items() if k != "evaluations"})
        if math.isnan(total):  # 0.0 when resumed at max_steps (nothing left to train)
            raise FloatingPointError("training ended with a NaN loss")
        return result
