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

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from gradedpr.accel.onednn import set_enabled as set_accel
from gradedpr.commands.checks import check_training_split, run_dir_of, to_dict, to_yaml, train_app
from gradedpr.commands.common import checkpoint_label, hydra_choice
from gradedpr.commands.rundir import HydraRecord
from gradedpr.config.schema import TrainApp, TrainConfig
from gradedpr.data.from_config import collection_from_config
from gradedpr.data.negatives import NegativeSource, PrecomputedNegatives, RandomNegatives, build_negative_source
from gradedpr.data.sampler import GroupSampler
from gradedpr.errors import ConfigError
from gradedpr.evaluation.measures import DEFAULT_MEASURES
from gradedpr.evaluation.metrics import evaluate_run
from gradedpr.evaluation.report import write_run_and_metrics
from gradedpr.filenames import RUN_CONFIG, TRAIN_SUMMARY
from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import FlatIndexCache, build_dense_index, retrieve
from gradedpr.losses import get_loss
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.card import refresh_checkpoint_card
from gradedpr.train.curves import write_curves
from gradedpr.train.distributed import Dist, init_from_env, shutdown
from gradedpr.train.frozen import FrozenPassageStep, freeze_passage_encoder, frozen_store
from gradedpr.train.guard import apply_guard
from gradedpr.train.loggers import MetricsLogger
from gradedpr.train.mining import mine_negatives
from gradedpr.train.report import report_training, run_log_file
from gradedpr.train.schedule import resolve_schedule
from gradedpr.train.step import StepFn
from gradedpr.train.trainer import Trainer, TrainResult, check_parallel_settings
from gradedpr.train.training_view import training_view
from gradedpr.types import Run
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.distributed import local_device, rank_and_world
from gradedpr.utils.outputs import removed_on_failure
from gradedpr.utils.runlock import hold_run_dir
from gradedpr.utils.seeding import seed_everything

log = logging.getLogger(__name__)
TRAINING_ONLY_MODEL_KEYS = ("name_or_path", "gradient_checkpointing")
"""``model.*`` settings that are not part of the saved model (``gradedpr.json``)."""


def model_overrides(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model_cfg.items() if k not in TRAINING_ONLY_MODEL_KEYS}


def check_group_size(t: TrainConfig, corpus_size: int, qrels: Mapping[str, Mapping[str, int]],
                     queries: Mapping[str, str]) -> None:
    """Every training group can be filled: ``group_size`` documents exist for every query (else the groups
    would be silently shorter than asked)."""
    if t.regime == "frozen":
        return
    worst: tuple[int, str, int] | None = None
    for qid, judged in qrels.items():
        relevant = sum(1 for grade in judged.values() if grade > 0)
        if not relevant or qid not in queries:
            continue
        room = min(relevant, t.max_positives) + corpus_size - relevant
        if worst is None or room < worst[0]:
            worst = (room, qid, relevant)
    if worst is not None and t.group_size > worst[0]:
        room, qid, relevant = worst
        raise ConfigError(f"train.group_size={t.group_size}: must be <= {room} for this data: query {qid!r} has "
                          f"{relevant} relevant of {corpus_size} documents, so its group holds at most "
                          f"{min(relevant, t.max_positives)} positive(s) (train.max_positives={t.max_positives}) "
                          f"and {corpus_size - relevant} negatives")


def run_training(cfg: DictConfig | TrainApp, hydra_files: HydraRecord | None = None) -> TrainResult:
    """Train a dual encoder as ``cfg`` says; returns the evaluations and where the checkpoints are.
    ``hydra_files``: Hydra's record of the run, written once the run directory's lock is held."""
    main_process = rank_and_world()[0] == 0
    with removed_on_failure(run_dir_of(cfg) if main_process else None):
        app = train_app(cfg)  # also refuses to resume a run that a live process still trains
    if app.logger.group is None:  # wandb: the runs of one recipe (experiment=...) in one group
        app = replace(app, logger=replace(app.logger, group=hydra_choice("experiment")))
    device = local_device(app.device)  # cuda:LOCAL_RANK under torchrun with auto; else the device named
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
    """Everything up to the first step: data, model, negatives, sampler, trainer (resumed if asked); returns
    what trains (and evaluates the best checkpoint on the test split)."""
    seed_everything(app.seed)
    set_accel(app.accel)
    run_dir.mkdir(parents=True, exist_ok=True)
    t = app.train
    test_split = t.test_split
    eval_split = t.eval_split
    splits = ["train", eval_split] + ([test_split] if test_split else [])
    regime, negatives_kind = t.regime, t.negatives
    if dist.enabled and regime == "frozen":
        raise ConfigError("train.regime=frozen runs in one process only: launch it without torchrun, or use "
                          "train.regime=full for multi-process training")
    settings = t
    check_parallel_settings(settings, dist.world_size, custom_step=regime == "frozen")  # before loading anything
    collection = collection_from_config(asdict(app.data), splits=list(dict.fromkeys(splits)))
    view = training_view(t, collection.qrels["train"], collection.split_queries("train"), collection.corpus.ids,
                         app.seed)
    train_qrels, train_queries = view.qrels, view.queries
    check_group_size(t, len(collection.corpus), train_qrels, train_queries)
    check_training_split(app, train_qrels, train_queries)  # some grade > 0; train.batch_size <= the queries

    start = app.resume_from or app.model.name_or_path
    model = BiEncoder.from_pretrained(str(start), **model_overrides(asdict(app.model)))
    model.to(dist.device)
    if app.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    show = app.show_progress and dist.is_main
    eval_length = t.eval_passage_max_length

    if t.freeze_word_embeddings:
        for encoder in (model.query_encoder, model.passage_encoder):  # the same module twice when shared
            encoder.get_input_embeddings().requires_grad_(False)

    frozen_index: DenseIndex | None = None
    embeddings_dir = t.embeddings_dir or default_embeddings_dir(app)
    if regime == "frozen":
        freeze_passage_encoder(model)
        store = frozen_store(model, collection.corpus, embeddings_dir, batch_size=t.eval_batch_size,
                             show_progress=show, checkpoint=app.model.name_or_path)
        frozen_index = build_dense_index(model, collection.corpus, IndexSpec("flat"), embeddings_dir=embeddings_dir,
                                         batch_size=t.eval_batch_size, show_progress=show)
        log.info("frozen regime: %d passage vectors in %s; only the query encoder trains", store.num_rows,
                 store.directory)

    negatives: NegativeSource
    if regime == "frozen":
        negatives = RandomNegatives()  # the lists come from the frozen corpus; groups only pick the positive
    elif negatives_kind == "model":
        negatives = mined_by_rank0(dist, lambda: mine_negatives(
            model, collection.corpus, train_queries, t.negatives_depth, embeddings_dir=t.embeddings_dir,
            batch_size=t.eval_batch_size, show_progress=show))
    else:
        negatives = build_negative_source(
            negatives_kind,
            collection.corpus,
            train_queries,
            depth=t.negatives_depth,
            run_file=t.negatives_run_file,
            data_negatives=collection.negatives,
        )
    sampler = GroupSampler(
        train_queries,
        train_qrels,
        collection.corpus.ids,
        negatives,
        group_size=2 if regime == "frozen" else t.group_size,
        max_positives=1 if regime == "frozen" else t.max_positives,
        seed=app.seed,
    )
    if sampler.skipped:
        log.warning("skipped %d training queries with no relevant document", len(sampler.skipped))
    settings = resolve_schedule(t, len(sampler))
    if settings.epochs is not None:
        log.info("schedule: %g epochs of %d training queries = %d steps (cap %d), dev every %d steps",
                 settings.epochs, len(sampler), settings.max_steps, t.max_steps, settings.eval_every)
    loss_fn = get_loss(app.loss.name, **app.loss.kwargs)

    step: StepFn | None = None
    if regime == "frozen":
        assert frozen_index is not None
        step = FrozenPassageStep(model, store, collection.corpus, train_qrels, loss_fn,
                                 candidates=t.frozen.candidates,  # type: ignore[arg-type]
                                 topk=t.frozen.topk, max_judged=t.frozen.max_judged,
                                 random_negatives=t.frozen.random, seed=app.seed, excluded=view.heldout,
                                 correct=t.frozen.correct, search=t.frozen.search,  # type: ignore[arg-type]
                                 )

    test_length = t.test_passage_max_length or eval_length
    measures = list(dict.fromkeys([*DEFAULT_MEASURES, t.eval_metric]))  # with the metric that picks the best

    index_cache = FlatIndexCache()  # dev evaluations re-encode the corpus only when the passages changed

    def retrieve_split(m: BiEncoder, split: str) -> Run:
        if frozen_index is not None:
            return retrieve(m, collection, split, k=t.eval_k, index=frozen_index,
                            batch_size=t.eval_batch_size, show_progress=False)
        length = test_length if split == test_split and split != eval_split else eval_length
        with passage_length(m, length):
            return retrieve(m, collection, split, k=t.eval_k, batch_size=t.eval_batch_size,
                            show_progress=False, cache=index_cache)

    def evaluate_on(split: str) -> Callable[[BiEncoder], Mapping[str, float]]:
        def evaluate(m: BiEncoder) -> Mapping[str, float]:
            return evaluate_run(retrieve_split(m, split), collection.qrels[split], measures).mean

        return evaluate

    refresh: Callable[[BiEncoder, int], None] | None = None
    refresh_every = t.negatives_refresh_every
    if refresh_every:
        def refresh(m: BiEncoder, at_step: int) -> None:
            log.info("step %d: re-mining negatives with the current model", at_step)
            sampler.negatives = mined_by_rank0(dist, lambda: mine_negatives(
                m, collection.corpus, train_queries, t.negatives_depth, batch_size=t.eval_batch_size,
                show_progress=False))

    evaluate = evaluate_on(eval_split)

    trainer = Trainer(model, sampler, collection.corpus, loss_fn, settings, run_dir, evaluate=evaluate,
                      show_progress=show, step=step, refresh=refresh, refresh_every=refresh_every, dist=dist)
    if app.resume_from:
        trainer.resume(app.resume_from)
    elif dist.rank > 0:  # distinct dropout masks per process (rank 0 keeps the single-process stream)
        torch.manual_seed(app.seed + dist.rank)
    logger = MetricsLogger(run_dir, asdict(app.logger) if dist.is_main else None, to_dict(app))
    trainer.logger = logger
    if dist.is_main:
        # written once data, model, negatives and trainer state are known to load, so that bad input leaves no
        # run; metrics.jsonl: a fresh training starts it anew, a resume keeps the records up to the resumed
        # step, so the steps it replays are not recorded twice
        atomic_write_text(run_dir / RUN_CONFIG, to_yaml(app))
        if not logger.keep_until(trainer.step if app.resume_from else None):
            sizes = {"data/train_queries": len(sampler), "data/skipped_queries": len(sampler.skipped),
                     "data/corpus": len(collection.corpus), "data/world_size": dist.world_size}
            sizes.update({f"data/{split}_queries": len(collection.qrels[split]) for split in splits[1:]})
            logger.log(sizes, 0)
    def train() -> TrainResult:
        try:
            result = trainer.train()
            if not dist.is_main:
                return result
            selected_step = result.best_step
            if t.guard_p is not None or t.interpolate:  # the checkpoint kept may be the start model (step 0)
                selected_step = apply_guard(
                    trainer, lambda: BiEncoder.from_pretrained(str(app.model.name_or_path),
                                                               **model_overrides(asdict(app.model))),
                    collection.qrels[eval_split], lambda m: retrieve_split(m, eval_split), t.guard_p, t.interpolate)
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
            write_curves(run_dir, settings.eval_metric, selected_step, split=eval_split)  # curves.png (+ wandb)
        finally:
            logger.close()
        report_training(result, eval_metric=settings.eval_metric, eval_split=eval_split, test_split=test_split,
                        best_dir=trainer.best_dir, last_dir=trainer.last_dir, run_dir=run_dir)
        return result

    return train


def mined_by_rank0(dist: Dist, mine: Callable[[], PrecomputedNegatives]) -> PrecomputedNegatives:
    """Rank 0 mines (one corpus encoding, one store writer); the other ranks receive its lists."""
    mined = dist.broadcast_object(mine() if dist.is_main else None, "receiving rank 0's mined negatives")
    assert mined is not None
    return mined


def default_embeddings_dir(app: TrainApp) -> Path:
    """Where the start model's passage vectors of the training corpus are kept (frozen regime)."""
    name = checkpoint_label(app.model.name_or_path)
    return Path("outputs/embeddings") / f"{app.data.name}-{name}-p{app.model.passage_max_length}"


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
