"""The training loop: AdamW, warmup + linear decay, accumulation, clipping, bf16 on CUDA, dev evaluation,
best / last checkpoints with everything needed to resume (optimiser, scheduler, RNG, data position).

With several processes (``dist``, :mod:`gradedpr.train.distributed`) every process draws the same global batch
of ``train.batch_size`` queries and trains on its contiguous share (rank ``r`` of ``W`` takes queries
``r*B/W .. (r+1)*B/W``); the step gathers the embeddings, the gradients are summed over the processes once per
optimiser step, and every process applies the same update. Rank 0 alone evaluates on dev, logs and writes
checkpoints; the others wait for it at a barrier (``train.dist_timeout``). ``checkpoints/last`` records the
world size, the data order and every process's RNG state; resuming refuses another world size or data order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from gradedpr.config.resume import check_resume_settings
from gradedpr.config.schema import TrainConfig
from gradedpr.data.collection import Corpus
from gradedpr.data.sampler import GroupSampler
from gradedpr.errors import CheckpointError
from gradedpr.filenames import TRAIN_SUMMARY, TRAINER_STATE, TRAINING_INFO
from gradedpr.losses.registry import BoundLoss
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.card import CARD_FILE, checkpoint_card
from gradedpr.train.distributed import Dist
from gradedpr.train.loggers import MetricsLogger
from gradedpr.train.optim import build_optimizer, linear_warmup_decay
from gradedpr.train.step import InBatchStep, StepFn, grad_norm, run_step
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.device import autocast
from gradedpr.utils.faults import crash_point
from gradedpr.utils.progress import logging_above_bars, progress_bar
from gradedpr.utils.runlock import check_run_dir_free, hold_run_dir, run_of_checkpoint
from gradedpr.utils.seeding import rng_state, set_rng_state
from gradedpr.utils.torch_state import load_plain_state

log = logging.getLogger(__name__)
EvalFn = Callable[[BiEncoder], Mapping[str, float]]
_STATE_KEYS = ("optimizer", "scheduler", "rng", "step", "epoch", "batch_in_epoch", "best_metric", "best_step",
               "evaluations")


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
        settings: TrainConfig,
        run_dir: str | Path,
        *,
        evaluate: EvalFn | None = None,
        logger: MetricsLogger | None = None,
        show_progress: bool = True,
        step: StepFn | None = None,
        refresh: Callable[[BiEncoder, int], None] | None = None,
        refresh_every: int = 0,
        dist: Dist | None = None,
    ) -> None:
        self.dist = dist or Dist()
        self.model = model
        self.step_fn = step or InBatchStep(model, corpus, sampler.qrels, settings.group_size, loss_fn,
                                           dist=self.dist, grad_cache_chunk=settings.grad_cache_chunk,
                                           bf16=settings.bf16)
        self.refresh_fn = refresh
        self.refresh_every = refresh_every
        self.sampler = sampler
        self.corpus = corpus
        self.loss_fn = loss_fn
        self.s = settings
        self.run_dir = Path(run_dir)
        self.evaluate_fn = evaluate if self.dist.is_main else None
        self.logger = logger or MetricsLogger(self.run_dir, None, {})
        self.show_progress = show_progress and self.dist.is_main
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
        self.evaluated_at: int | None = None  # the step of the last dev evaluation (known on every rank)
        self.seconds_before = 0.0  # training seconds of the segments before a resume (from the trainer state)
        self.segment_started = time.perf_counter()
        # every process starts from rank 0's weights (they load the same files; this makes sure)
        self.dist.broadcast_parameters([*model.parameters(), *model.buffers()])

    # ------------------------------------------------------------------ checkpoints
    @property
    def best_dir(self) -> Path:
        return self.run_dir / "checkpoints" / "best"

    @property
    def last_dir(self) -> Path:
        return self.run_dir / "checkpoints" / "last"

    def data_order(self) -> dict[str, Any]:
        """What fixes the sequence of global batches (resuming under other values would silently train on
        other batches than the checkpoint's position means)."""
        qids = "\n".join(self.sampler.qids).encode("utf-8")
        return {
            "seed": self.sampler.seed,
            "batch_size": self.s.batch_size,
            "grad_accum": self.s.grad_accum,
            "group_size": self.sampler.group_size,
            "max_positives": self.sampler.max_positives,
            "train_queries": len(self.sampler.qids),
            "train_queries_sha1": hashlib.sha1(qids).hexdigest()[:16],
        }

    def _state(self, rngs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        rngs = rngs or [rng_state()]
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "evaluations": self.evaluations,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rngs[0],
            "rng_per_rank": rngs,
            "world_size": self.dist.world_size,
            "data_order": self.data_order(),
            "settings": asdict(self.s),
            "seconds": self.seconds_before + time.perf_counter() - self.segment_started,
        }

    def save(self, directory: Path, with_state: bool, rngs: list[dict[str, Any]] | None = None,
             model: BiEncoder | None = None) -> None:
        """Write a checkpoint (the caller is rank 0; ``rngs``: every rank's RNG state, for ``with_state``;
        ``model``: another model than the one in training, e.g. the start model the guard keeps)."""
        model = model or self.model
        extra: dict[str, Any] = {TRAINER_STATE: self._state(rngs)} if with_state else {}
        step = self.step if model is self.model else 0
        info = {"step": step, "epoch": self.epoch if model is self.model else 0, "best_metric": self.best_metric}
        extra[TRAINING_INFO] = json.dumps(info, indent=2) + "\n"
        extra[CARD_FILE] = checkpoint_card(model.config, self.run_dir, dim=model.dim, step=step,
                                           best_step=self.best_step, evaluations=self.evaluations,
                                           train_settings=asdict(self.s))
        model.save_pretrained(directory, extra_files=extra)

    def save_last(self) -> None:
        """``checkpoints/last`` with the trainer state; every rank calls this, rank 0 writes."""
        rngs = self.dist.all_gather_object(rng_state(), "collecting RNG states for checkpoints/last")
        if self.dist.is_main:
            self.save(self.last_dir, with_state=True, rngs=rngs)
        self.dist.barrier("waiting for rank 0 to write checkpoints/last")

    def resume(self, checkpoint: str | Path) -> None:
        """Restore optimiser, scheduler, RNG and data position from a ``last`` checkpoint.

        The model weights are loaded by the caller from the same directory (``BiEncoder.from_pretrained``).
        """
        source_run = run_of_checkpoint(checkpoint)
        if source_run is not None and self.dist.is_main:  # rank 0 holds the run for all processes
            check_run_dir_free(source_run)  # a live training still writes it: two runs would fork one history
        path = Path(checkpoint) / TRAINER_STATE
        if not path.exists():
            raise CheckpointError(f"{path}: no trainer state to resume from (use a checkpoints/last directory)")
        state = load_plain_state(path)  # weights_only: refuses pickled objects that would run code
        missing = [key for key in _STATE_KEYS if not isinstance(state, dict) or key not in state]
        if missing:
            raise CheckpointError(f"{path}: not a trainer state gradedpr wrote (it lacks {', '.join(missing)})")
        check_resume_settings({"train": state.get("settings") or {}}, {"train": asdict(self.s)}, str(path))
        written = int(state.get("world_size", 1))
        if written != self.dist.world_size:
            raise CheckpointError(
                f"{checkpoint}: written by {written} training process(es), this run has {self.dist.world_size}: "
                "each process's share of the batch and its dropout RNG cannot be continued exactly; resume with "
                f"{written} process(es) (torchrun), or start a new run from these weights with "
                f"model.name_or_path={checkpoint}")
        order = state.get("data_order")
        if order is None:
            log.warning("%s: no data order recorded (older checkpoint); assuming it matches this run", checkpoint)
        else:
            now = self.data_order()
            wrong = [f"{k} {order.get(k)!r} in the checkpoint, {v!r} now" for k, v in now.items() if order.get(k) != v]
            if wrong:
                raise CheckpointError(
                    f"{checkpoint}: another data order ({'; '.join(wrong)}): the saved position (epoch "
                    f"{state['epoch']}, batch {state['batch_in_epoch']}) would point at other batches; resume with "
                    f"the checkpoint's settings, or start a new run from these weights with "
                    f"model.name_or_path={checkpoint}")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state.get("rng_per_rank", [state["rng"]])[self.dist.rank])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best_metric, self.best_step = state["best_metric"], state["best_step"]
        self.evaluations = list(state["evaluations"])
        self.seconds_before = float(state.get("seconds", 0.0))  # 0 for checkpoints written before it was kept
        self.evaluated_at = int(self.evaluations[-1]["step"]) if self.evaluations else None
        log.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, self.step, self.epoch,
                 self.batch_in_epoch)

    # ------------------------------------------------------------------ evaluation
    def evaluate_and_wait(self) -> None:
        """Rank 0 evaluates on dev (and may write ``best``); the other ranks wait for it."""
        if self.dist.is_main:
            self.run_evaluation()
        self.evaluated_at = self.step
        self.dist.barrier("waiting for rank 0's dev evaluation")

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
        log.info("step %d: %s", self.step, "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        return metrics

    # ------------------------------------------------------------------ loop
    def _batches(self) -> Any:
        while True:
            for groups in self.sampler.batches(self.s.batch_size, self.epoch, start=self.batch_in_epoch):
                self.batch_in_epoch += 1
                yield self.dist.local_slice(groups)  # this rank's share of the global batch
            self.epoch += 1
            self.batch_in_epoch = 0

    def train(self) -> TrainResult:
        """Train to ``max_steps`` holding the run directory's lock (see :mod:`gradedpr.utils.runlock`)."""
        with hold_run_dir(self.run_dir) if self.dist.is_main else contextlib.nullcontext(), logging_above_bars():
            return self._train()

    def _train(self) -> TrainResult:
        self.segment_started = time.perf_counter()
        if self.step == 0 and self.s.eval_at_start:
            self.evaluate_and_wait()
        self.model.train()
        batches = self._batches()
        params = [p for p in self.model.parameters() if p.requires_grad]
        total = 0.0
        bar = progress_bar(total=self.s.max_steps, initial=self.step, desc="train", unit="step",
                           show=self.show_progress)
        while self.step < self.s.max_steps:
            self.optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for _ in range(self.s.grad_accum):
                groups = next(batches)
                try:
                    loss = run_step(self.step_fn, groups, 1.0 / self.s.grad_accum,
                                    lambda: autocast(self.device, self.s.bf16))
                    total += loss / self.s.grad_accum
                except FloatingPointError as exc:
                    raise FloatingPointError(f"at step {self.step}: {exc}") from None
            self.dist.sum_gradients(params)
            if self.s.max_grad_norm > 0:  # the norm before clipping, computed once
                norm = float(torch.nn.utils.clip_grad_norm_(params, self.s.max_grad_norm))
            else:
                norm = grad_norm(params)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            if self.step % self.s.log_every == 0 and self.dist.is_main:
                lr = self.scheduler.get_last_lr()[0]
                self.logger.log({"train/loss": total, "train/lr": lr, "train/grad_norm": norm,
                                 "train/epoch": self.epoch}, self.step)
                crash_point("train_step_logged")
            if self.s.eval_every > 0 and self.step % self.s.eval_every == 0 and self.step < self.s.max_steps:
                self.evaluate_and_wait()
                self.model.train()
            if (self.refresh_fn is not None and self.refresh_every > 0 and self.step % self.refresh_every == 0
                    and self.step < self.s.max_steps):
                self.refresh_fn(self.model, self.step)
                self.model.train()
            if self.s.save_every > 0 and self.step % self.s.save_every == 0 and self.step < self.s.max_steps:
                self.save_last()
        bar.close()
        if self.evaluated_at != self.step:
            self.evaluate_and_wait()
        self.save_last()
        result = TrainResult(
            run_dir=self.run_dir,
            steps=self.step,
            evaluations=self.evaluations,
            best_metric=self.best_metric,
            best_step=self.best_step,
            skipped_queries=len(self.sampler.skipped),
            seconds=self.seconds_before + time.perf_counter() - self.segment_started,
        )
        summary = {
            "steps": result.steps,
            "best_step": result.best_step,
            "best_dev_metric": result.best_metric,
            "eval_metric": self.s.eval_metric,
            "skipped_queries": result.skipped_queries,
            "seconds": round(result.seconds, 2),  # every segment's, when the run was resumed
            "seconds_before_resume": round(self.seconds_before, 2),
            "evaluations": result.evaluations,
        }
        if self.dist.is_main:
            atomic_write_text(self.run_dir / TRAIN_SUMMARY, json.dumps(summary, indent=2) + "\n")
            self.logger.summary({k: v for k, v in summary.items() if k != "evaluations"})
        if math.isnan(total):  # 0.0 when resumed at max_steps (nothing left to train)
            raise FloatingPointError("training ended with a NaN loss")
        return result
