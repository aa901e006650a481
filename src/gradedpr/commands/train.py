"""Build everything a training run needs from the Hydra config and run it (``scripts/train.py`` calls this).

Every setting is checked before anything is written or loaded (:func:`gradedpr.commands.checks.train_app`);
a start that fails (bad setting, data or checkpoint) leaves no run directory behind. The run directory is
locked for the whole run (:func:`~gradedpr.utils.runlock.hold_run_dir`, by the process of rank 0): a second
training into it, or a resume of a run that a live process still trains, is refused before anything is
written.

Under ``torchrun`` every process runs this function: they join one process group (gloo on CPU, NCCL on CUDA,
``cuda:LOCAL_RANK``), agree on rank 0's run directory, build the same data, and train one model together
(:mod:`gradedpr.train.trainer`). Rank 0 alone writes the run directory (config, metrics, wandb, checkpoints)
and evaluates; ``train.negatives=model`` is mined by rank 0 and sent to the others. The frozen-passage
regime runs in one process only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from gradedpr.commands.checks import check_training_split, run_dir_of, to_dict, to_yaml, train_app
from gradedpr.commands.common import checkpoint_label, hydra_choice
from gradedpr.commands.rundir import HydraRecord
from gradedpr.config.schema import TrainApp
from gradedpr.data.from_config import collection_from_config
from gradedpr.filenames import RUN_CONFIG
from gradedpr.losses import get_loss
from gradedpr.model.biencoder import BiEncoder
from gradedpr.train.dev_pool import dev_pool
from gradedpr.train.distributed import Dist, init_from_env, shutdown
from gradedpr.train.finish import train_and_finish
from gradedpr.train.loggers import MetricsLogger
from gradedpr.train.regime import prepare_regime
from gradedpr.train.report import run_log_file
from gradedpr.train.schedule import resolve_schedule
from gradedpr.train.split_eval import SplitRetrieval
from gradedpr.train.trainer import Trainer, TrainResult
from gradedpr.train.training_view import training_view
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.device import pick_device
from gradedpr.utils.outputs import removed_on_failure
from gradedpr.utils.ranks import rank_and_world
from gradedpr.utils.runlock import hold_run_dir
from gradedpr.utils.seeding import seed_everything

log = logging.getLogger(__name__)
TRAINING_ONLY_MODEL_KEYS = ("name_or_path", "gradient_checkpointing")
"""``model.*`` settings that are not part of the saved model (``gradedpr.json``)."""


def model_overrides(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model_cfg.items() if k not in TRAINING_ONLY_MODEL_KEYS}


def run_training(cfg: DictConfig | TrainApp, hydra_files: HydraRecord | None = None) -> TrainResult:
    """Train a dual encoder as ``cfg`` says; returns the evaluations and where the checkpoints are.
    ``hydra_files``: Hydra's record of the run, written once the run directory's lock is held."""
    main_process = rank_and_world()[0] == 0
    with removed_on_failure(run_dir_of(cfg) if main_process else None):
        app = train_app(cfg)  # also refuses to resume a run that a live process still trains
    if app.logger.group is None:  # wandb: the runs of one recipe (experiment=...) in one group
        app = replace(app, logger=replace(app.logger, group=hydra_choice("experiment")))
    device = pick_device(app.device)  # cuda:LOCAL_RANK under torchrun with auto; else the device named
    dist = init_from_env(app.train.dist_timeout, device)
    try:
        run_dir = Path(dist.broadcast_object(app.run_dir, "receiving rank 0's run directory"))
        with ExitStack() as lock:
            with removed_on_failure(run_dir if dist.is_main else None):
                if dist.is_main:
                    lock.enter_context(hold_run_dir(run_dir))
                    lock.enter_context(run_log_file(run_dir))  # train.log (Hydra's job logging may write it)
                    if hydra_files is not None:
                        hydra_files.write()
                train = _prepare(app, dist, run_dir)
            return train()
    finally:
        shutdown(dist)


def _prepare(app: TrainApp, dist: Dist, run_dir: Path) -> Callable[[], TrainResult]:
    """Everything up to the first step: data, model, the regime's pieces (:mod:`gradedpr.train.regime`), the
    trainer (resumed if asked); returns what trains and finishes the run (:mod:`gradedpr.train.finish`)."""
    seed_everything(app.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    t = app.train
    splits = list(dict.fromkeys(["train", t.eval_split] + ([t.test_split] if t.test_split else [])))
    collection = collection_from_config(app.data, splits=splits)
    view = training_view(t, collection.qrels["train"], collection.split_queries("train"), collection.corpus.ids,
                         app.seed)
    check_training_split(app, view.qrels, view.queries)  # some grade > 0; train.batch_size <= the queries
    model = _load_model(app, str(app.resume_from or app.model.name_or_path), dist.device)
    loss_fn = get_loss(app.loss.name, **app.loss.kwargs)
    show = app.show_progress and dist.is_main
    parts = prepare_regime(app, model, collection, view, loss_fn, dist, show_progress=show,
                           embeddings_dir=Path(t.embeddings_dir or default_embeddings_dir(app)))
    if parts.sampler.skipped:
        log.warning("skipped %d training queries with no relevant document", len(parts.sampler.skipped))
    settings = resolve_schedule(t, len(parts.sampler))
    if settings.epochs is not None:
        log.info("schedule: %g epochs of %d training queries = %d steps (cap %d), dev every %d steps",
                 settings.epochs, len(parts.sampler), settings.max_steps, t.max_steps, settings.eval_every)
    pools = {t.eval_split: dev_pool(run_dir, model, collection, t.eval_split, t.dev_pool, t.eval_batch_size)
             } if t.dev_pool and dist.is_main else {}
    retrieval = SplitRetrieval(collection, settings, parts.frozen_index, pools)
    trainer = Trainer(model, parts.sampler, collection.corpus, loss_fn, settings, run_dir,
                      evaluate=retrieval.evaluator(t.eval_split), show_progress=show, step=parts.step,
                      refresh=parts.refresh, refresh_every=t.negatives_refresh_every, dist=dist)
    if app.resume_from:
        trainer.resume(app.resume_from)
    elif dist.rank > 0:  # distinct dropout masks per process (rank 0 keeps the single-process stream)
        torch.manual_seed(app.seed + dist.rank)
    sizes = {"data/corpus": len(collection.corpus), **{f"data/{s}_queries": len(collection.qrels[s])
                                                       for s in splits[1:]}}
    logger = _start_logger(app, trainer, dist, sizes)
    trainer.logger = logger
    return lambda: train_and_finish(trainer, retrieval, lambda: _load_model(app, str(app.model.name_or_path)),
                                    logger)


def _load_model(app: TrainApp, path: str, device: torch.device | None = None) -> BiEncoder:
    """The start (or resumed) model with the run's model settings; word embeddings frozen when asked."""
    model = BiEncoder.from_pretrained(path, **model_overrides(asdict(app.model)))
    model.accel = app.accel
    if device is not None:
        model.to(device)
    if app.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if app.train.freeze_word_embeddings:
        for encoder in (model.query_encoder, model.passage_encoder):  # the same module twice when shared
            encoder.get_input_embeddings().requires_grad_(False)
    return model


def _start_logger(app: TrainApp, trainer: Trainer, dist: Dist, sizes: dict[str, int]) -> MetricsLogger:
    """metrics.jsonl (+ wandb) on rank 0, and the run's ``config.yaml``: written once data, model, negatives and
    trainer state are known to load, so that bad input leaves no run. A fresh training starts metrics.jsonl
    anew, a resume keeps the records up to the resumed step (the steps it replays are not recorded twice)."""
    logger = MetricsLogger(trainer.run_dir, asdict(app.logger) if dist.is_main else None, to_dict(app))
    if dist.is_main:
        atomic_write_text(trainer.run_dir / RUN_CONFIG, to_yaml(app))
        if not logger.keep_until(trainer.step if app.resume_from else None):
            logger.log({"data/train_queries": len(trainer.sampler), "data/skipped_queries":
                        len(trainer.sampler.skipped), **sizes, "data/world_size": dist.world_size}, 0)
    return logger


def default_embeddings_dir(app: TrainApp) -> Path:
    """Where the start model's passage vectors of the training corpus are kept (frozen regime)."""
    name = checkpoint_label(app.model.name_or_path)
    return Path("outputs/embeddings") / f"{app.data.name}-{name}-p{app.model.passage_max_length}"
