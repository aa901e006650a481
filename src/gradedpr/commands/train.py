"""Build everything a training run needs from the Hydra config and run it (``scripts/train.py`` calls this).

Under ``torchrun`` every process runs this function: they join one process group (gloo on CPU, NCCL on CUDA,
``cuda:LOCAL_RANK``), agree on rank 0's run directory, build the same data, and train one model together
(:mod:`gradedpr.train.trainer`). Rank 0 alone writes the run directory (config, metrics, wandb, checkpoints)
and evaluates; ``train.negatives=model`` is mined by rank 0 and sent to the others. The frozen-passage
regime runs in one process only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from gradedpr.accel.onednn import set_enabled as set_accel
from gradedpr.commands.common import checkpoint_label
from gradedpr.data.from_config import collection_from_config
from gradedpr.data.negatives import NegativeSource, PrecomputedNegatives, RandomNegatives, build_negative_source
from gradedpr.data.sampler import GroupSampler
from gradedpr.errors import ConfigError, GradedprError
from gradedpr.evaluation.metrics import evaluate_run
from gradedpr.evaluation.report import write_run_and_metrics
from gradedpr.filenames import METRICS_LOG, RUN_CONFIG, TRAIN_SUMMARY
from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import FlatIndexCache, build_dense_index, retrieve
from gradedpr.losses import get_loss
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.card import refresh_checkpoint_card
from gradedpr.train.distributed import DEFAULT_TIMEOUT_S, Dist, init_from_env, shutdown
from gradedpr.train.frozen import FrozenPassageStep, freeze_passage_encoder, frozen_store
from gradedpr.train.loggers import MetricsLogger
from gradedpr.train.mining import mine_negatives
from gradedpr.train.step import StepFn
from gradedpr.train.trainer import Trainer, TrainResult, TrainSettings, check_parallel_settings
from gradedpr.types import Run
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.device import pick_device
from gradedpr.utils.distributed import local_device
from gradedpr.utils.runlock import LOCK_FILE, check_run_dir_free, hold_run_dir, run_of_checkpoint
from gradedpr.utils.seeding import seed_everything

log = logging.getLogger(__name__)
_SETTING_KEYS = set(TrainSettings.__dataclass_fields__)
REGIMES = ("full", "frozen")
NEGATIVES = ("random", "bm25", "run", "data", "model")
TRAINING_ONLY_MODEL_KEYS = ("name_or_path", "gradient_checkpointing")
"""``model.*`` settings that are not part of the saved model (``gradedpr.json``)."""


def model_overrides(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model_cfg.items() if k not in TRAINING_ONLY_MODEL_KEYS}


def run_training(cfg: DictConfig) -> TrainResult:
    """Train a dual encoder as ``cfg`` says; returns the evaluations and where the checkpoints are.

    The run directory is locked for the whole run (:func:`~gradedpr.utils.runlock.hold_run_dir`, by the process
    of rank 0): a second training into it, or a resume of a run that a live process still trains, is refused
    before anything is written.
    """
    timeout = float(cfg.train.get("dist_timeout") or DEFAULT_TIMEOUT_S)
    device_name = str(cfg.device)
    dist = init_from_env(timeout, local_device(device_name) if device_name == "auto" else pick_device(device_name))
    try:
        run_dir = Path(dist.broadcast_object(str(cfg.run_dir), "receiving rank 0's run directory"))
        created = not run_dir.exists()
        try:
            with hold_run_dir(run_dir) if dist.is_main else nullcontext():
                if cfg.resume_from and dist.is_main:  # rank 0 holds the run for all processes
                    source_run = run_of_checkpoint(str(cfg.resume_from))
                    if source_run is not None:
                        check_run_dir_free(source_run)
                return _run_training(cfg, dist, run_dir)
        except GradedprError:
            if created and dist.is_main:  # refused before training started: leave no run directory behind
                _remove_unstarted(run_dir)
            raise
    finally:
        shutdown(dist)


def _remove_unstarted(run_dir: Path) -> None:
    """Delete a run directory this process created if it holds nothing but its lock file."""
    with suppress(OSError):
        if {p.name for p in run_dir.iterdir()} <= {LOCK_FILE}:
            (run_dir / LOCK_FILE).unlink(missing_ok=True)
            run_dir.rmdir()


def _run_training(cfg: DictConfig, dist: Dist, run_dir: Path) -> TrainResult:
    seed_everything(int(cfg.seed))
    set_accel(bool(cfg.get("accel", True)))
    run_dir.mkdir(parents=True, exist_ok=True)
    t = cfg.train
    test_split = t.get("test_split")
    eval_split = str(t.eval_split)
    splits = ["train", str(t.eval_split)] + ([str(test_split)] if test_split else [])
    regime = str(t.get("regime", "full"))
    if regime not in REGIMES:
        raise ConfigError(f"train.regime must be one of {REGIMES}, got {regime!r}")
    negatives_kind = str(t.negatives)
    if negatives_kind not in NEGATIVES:
        raise ConfigError(f"train.negatives must be one of {NEGATIVES}, got {negatives_kind!r}")
    if dist.enabled and regime == "frozen":
        raise ConfigError("train.regime=frozen runs in one process only: launch it without torchrun, or use "
                          "train.regime=full for multi-process training")
    train_values: dict[str, Any] = OmegaConf.to_container(t)  # type: ignore[assignment]
    settings = TrainSettings(**{k: v for k, v in train_values.items() if k in _SETTING_KEYS})
    check_parallel_settings(settings, dist.world_size, custom_step=regime == "frozen")  # before loading anything
    collection = collection_from_config(cfg.data, splits=list(dict.fromkeys(splits)))
    train_qrels = collection.qrels["train"]
    train_queries = collection.split_queries("train")

    start = cfg.resume_from or cfg.model.name_or_path
    model = BiEncoder.from_pretrained(str(start), **model_overrides(cfg.model))
    model.to(dist.device)
    if cfg.model.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable()
    show = bool(cfg.show_progress) and dist.is_main
    eval_length = t.get("eval_passage_max_length")

    if t.get("freeze_word_embeddings"):
        for encoder in (model.query_encoder, model.passage_encoder):  # the same module twice when shared
            encoder.get_input_embeddings().requires_grad_(False)

    frozen_index: DenseIndex | None = None
    embeddings_dir = t.get("embeddings_dir") or default_embeddings_dir(cfg)
    if regime == "frozen":
        freeze_passage_encoder(model)
        if eval_length is not None and int(eval_length) != model.config.passage_max_length:
            raise ConfigError("train.eval_passage_max_length must equal model.passage_max_length in the frozen "
                             "regime (the passages are encoded once, at model.passage_max_length)")
        store = frozen_store(model, collection.corpus, embeddings_dir, batch_size=int(t.eval_batch_size),
                             show_progress=show, checkpoint=str(cfg.model.name_or_path))
        frozen_index = build_dense_index(model, collection.corpus, IndexSpec("flat"), embeddings_dir=embeddings_dir,
                                         batch_size=int(t.eval_batch_size), show_progress=show)
        log.info("frozen regime: %d passage vectors in %s; only the query encoder trains", store.num_rows,
                 store.directory)

    negatives: NegativeSource
    if regime == "frozen":
        negatives = RandomNegatives()  # the lists come from the frozen corpus; groups only pick the positive
    elif negatives_kind == "model":
        negatives = mined_by_rank0(dist, lambda: mine_negatives(
            model, collection.corpus, train_queries, int(t.negatives_depth), embeddings_dir=t.get("embeddings_dir"),
            batch_size=int(t.eval_batch_size), show_progress=show))
    else:
        negatives = build_negative_source(
            negatives_kind,
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
        group_size=2 if regime == "frozen" else int(t.group_size),
        max_positives=1 if regime == "frozen" else int(t.max_positives),
        seed=int(cfg.seed),
    )
    if sampler.skipped:
        log.warning("skipped %d training queries with no relevant document", len(sampler.skipped))
    loss_fn = get_loss(str(cfg.loss.name), **dict(cfg.loss.get("kwargs") or {}))

    step: StepFn | None = None
    if regime == "frozen":
        assert frozen_index is not None
        frozen_cfg = t.get("frozen") or {}
        max_judged = frozen_cfg.get("max_judged")
        step = FrozenPassageStep(model, store, collection.corpus, train_qrels, loss_fn,
                                 candidates=str(frozen_cfg.get("candidates", "corpus")),  # type: ignore[arg-type]
                                 topk=int(frozen_cfg.get("topk", 100)),
                                 max_judged=None if max_judged is None else int(max_judged),
                                 random_negatives=int(frozen_cfg.get("random", 0)), seed=int(cfg.seed))

    test_length = t.get("test_passage_max_length") or eval_length

    index_cache = FlatIndexCache()  # dev evaluations re-encode the corpus only when the passages changed

    def retrieve_split(m: BiEncoder, split: str) -> Run:
        if frozen_index is not None:
            return retrieve(m, collection, split, k=int(t.eval_k), index=frozen_index,
                            batch_size=int(t.eval_batch_size), show_progress=False)
        length = test_length if split == test_split and split != eval_split else eval_length
        with passage_length(m, None if length is None else int(length)):
            return retrieve(m, collection, split, k=int(t.eval_k), batch_size=int(t.eval_batch_size),
                            show_progress=False, cache=index_cache)

    def evaluate_on(split: str) -> Callable[[BiEncoder], Mapping[str, float]]:
        def evaluate(m: BiEncoder) -> Mapping[str, float]:
            return evaluate_run(retrieve_split(m, split), collection.qrels[split]).mean

        return evaluate

    refresh: Callable[[BiEncoder, int], None] | None = None
    refresh_every = int(t.get("negatives_refresh_every") or 0)
    if refresh_every and (regime == "frozen" or negatives_kind != "model"):
        raise ConfigError("train.negatives_refresh_every needs train.negatives=model and train.regime=full")
    if refresh_every:
        def refresh(m: BiEncoder, at_step: int) -> None:
            log.info("step %d: re-mining negatives with the current model", at_step)
            sampler.negatives = mined_by_rank0(dist, lambda: mine_negatives(
                m, collection.corpus, train_queries, int(t.negatives_depth), batch_size=int(t.eval_batch_size),
                show_progress=False))

    evaluate = evaluate_on(eval_split)

    trainer = Trainer(model, sampler, collection.corpus, loss_fn, settings, run_dir, evaluate=evaluate,
                      show_progress=show, step=step, refresh=refresh, refresh_every=refresh_every, dist=dist)
    if cfg.resume_from:
        trainer.resume(str(cfg.resume_from))
    elif dist.rank > 0:  # distinct dropout masks per process (rank 0 keeps the single-process stream)
        torch.manual_seed(int(cfg.seed) + dist.rank)
    logger = MetricsLogger(run_dir, cfg.logger if dist.is_main else None,
                           OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    trainer.logger = logger
    if dist.is_main:
        # written once data, model, negatives and trainer state are known to load, so that bad input leaves no
        # run; metrics.jsonl: a fresh training starts it anew, a resume keeps the records up to the resumed
        # step, so the steps it replays are not recorded twice
        atomic_write_text(run_dir / RUN_CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
        if not logger.keep_until(trainer.step if cfg.resume_from else None):
            sizes = {"data/train_queries": len(sampler), "data/skipped_queries": len(sampler.skipped),
                     "data/corpus": len(collection.corpus), "data/world_size": dist.world_size}
            sizes.update({f"data/{split}_queries": len(collection.qrels[split]) for split in splits[1:]})
            logger.log(sizes, 0)
    try:
        result = trainer.train()
        if not dist.is_main:
            return result
        if test_split:
            best = trainer.best_dir if trainer.best_dir.exists() else trainer.last_dir
            best_model = BiEncoder.from_pretrained(best).to(model.device)
            result_test = write_run_and_metrics(
                retrieve_split(best_model, str(test_split)), collection.qrels[str(test_split)],
                run_dir / str(test_split), tag=f"{run_dir.name}-{best.name}",
                extra={"split": str(test_split), "model": best_model.config.to_dict()})
            test_metrics = {f"{test_split}/{k}": v for k, v in result_test.mean.items()}
            logger.log(test_metrics, result.steps)
            logger.summary(test_metrics)
            result.test_metrics = test_metrics
            summary = json.loads((run_dir / TRAIN_SUMMARY).read_text(encoding="utf-8"))
            summary["test"] = test_metrics
            summary["test_checkpoint"] = str(best)
            atomic_write_text(run_dir / TRAIN_SUMMARY, json.dumps(summary, indent=2) + "\n")
            refresh_checkpoint_card(best, run_dir)  # the card now shows the test metrics too
    finally:
        logger.close()
    first, last = result.evaluations[0], result.evaluations[-1]
    metric = f"dev/{settings.eval_metric}"
    print(
        f"\n{settings.eval_metric} on {eval_split}: step {first['step']} = {first.get(metric, float('nan')):.4f}"
        f" -> step {last['step']} = {last.get(metric, float('nan')):.4f}"
        f" (best {result.best_metric} at step {result.best_step})\n"
        f"checkpoints: {trainer.best_dir} (best), {trainer.last_dir} (last)\n"
        f"metrics: {run_dir / METRICS_LOG}  |  skipped queries without a positive: {result.skipped_queries}"
    )
    return result


def mined_by_rank0(dist: Dist, mine: Callable[[], PrecomputedNegatives]) -> PrecomputedNegatives:
    """Rank 0 mines (one corpus encoding, one store writer); the other ranks receive its lists."""
    mined = dist.broadcast_object(mine() if dist.is_main else None, "receiving rank 0's mined negatives")
    assert mined is not None
    return mined


def default_embeddings_dir(cfg: DictConfig) -> Path:
    """Where the start model's passage vectors of the training corpus are kept (frozen regime)."""
    name = checkpoint_label(cfg.model.name_or_path)
    return Path("outputs/embeddings") / f"{cfg.data.name}-{name}-p{int(cfg.model.passage_max_length)}"


@contextmanager
def passage_length(model: BiEncoder, length: int | None) -> Iterator[None]:
    """Encode passages at ``length`` tokens inside the block (None: the model's own setting)."""
    previous = model.config.passage_max_length
    if length is not None:
        model.config.passage_max_length = length
    try:
        yield
    finally:
        model.config.passage_max_length = previous
