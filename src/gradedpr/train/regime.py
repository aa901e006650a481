"""What a training regime needs before its first step: the negatives source, the group sampler and, for the
frozen-passage regime, the passage store, its index and the step that scores against it.

``train.regime=full`` (and a shared encoder) trains on in-batch groups (:class:`~gradedpr.train.step.InBatchStep`,
built by the trainer) with negatives from ``train.negatives``; ``train.regime=frozen`` encodes the corpus once
with the start model's passage encoder, trains the query encoder only, and takes its candidate lists from that
store (:class:`~gradedpr.train.frozen.FrozenPassageStep`); its groups only pick the positive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gradedpr.config.schema import TrainApp, TrainConfig
from gradedpr.data.collection import Collection
from gradedpr.data.negatives import NegativeSource, PrecomputedNegatives, RandomNegatives, build_negative_source
from gradedpr.data.sampler import GroupSampler
from gradedpr.errors import ConfigError
from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import build_dense_index
from gradedpr.losses.registry import BoundLoss
from gradedpr.model.biencoder import BiEncoder
from gradedpr.train.distributed import Dist
from gradedpr.train.frozen import FrozenPassageStep, freeze_passage_encoder, frozen_store
from gradedpr.train.mining import mine_negatives
from gradedpr.train.step import StepFn
from gradedpr.train.training_view import TrainingView

log = logging.getLogger(__name__)


@dataclass
class RegimeParts:
    """The sampler, and for the frozen regime the step and the fixed passage index dev retrieval searches."""

    sampler: GroupSampler
    step: StepFn | None = None
    frozen_index: DenseIndex | None = None
    refresh: Callable[[BiEncoder, int], None] | None = None


def prepare_regime(app: TrainApp, model: BiEncoder, collection: Collection, view: TrainingView,
                   loss_fn: BoundLoss, dist: Dist, *, embeddings_dir: Path, show_progress: bool) -> RegimeParts:
    """The regime's pieces for ``model`` (already on its device) and the run's training view."""
    t = app.train
    if t.regime == "frozen":
        return _frozen(app, model, collection, view, loss_fn, embeddings_dir=embeddings_dir,
                       show_progress=show_progress)
    check_group_size(t, len(collection.corpus), view.qrels, view.queries)
    negatives: NegativeSource
    if t.negatives == "model":
        negatives = mined_by_rank0(dist, lambda: mine_negatives(
            model, collection.corpus, view.queries, t.negatives_depth, embeddings_dir=t.embeddings_dir,
            batch_size=t.eval_batch_size, show_progress=show_progress))
    else:
        negatives = build_negative_source(t.negatives, collection.corpus, view.queries, depth=t.negatives_depth,
                                          run_file=t.negatives_run_file, data_negatives=collection.negatives)
    ids: Sequence[str] = collection.corpus.ids
    if view.heldout:  # unseen documents: never a positive (training_view) nor a random negative (here)
        ids = [d for d in ids if d not in view.heldout]
    sampler = GroupSampler(view.queries, view.qrels, ids, negatives, group_size=t.group_size,
                           max_positives=t.max_positives, seed=app.seed)
    refresh = None
    if t.negatives_refresh_every:
        def refresh(m: BiEncoder, at_step: int) -> None:
            log.info("step %d: re-mining negatives with the current model", at_step)
            sampler.negatives = mined_by_rank0(dist, lambda: mine_negatives(
                m, collection.corpus, view.queries, t.negatives_depth, batch_size=t.eval_batch_size,
                show_progress=False))
    return RegimeParts(sampler, refresh=refresh)


def _frozen(app: TrainApp, model: BiEncoder, collection: Collection, view: TrainingView, loss_fn: BoundLoss, *,
            embeddings_dir: Path, show_progress: bool) -> RegimeParts:
    t = app.train
    freeze_passage_encoder(model)
    store = frozen_store(model, collection.corpus, embeddings_dir, batch_size=t.eval_batch_size,
                         show_progress=show_progress, checkpoint=app.model.name_or_path)
    index = build_dense_index(model, collection.corpus, IndexSpec("flat"), embeddings_dir=embeddings_dir,
                              batch_size=t.eval_batch_size, show_progress=show_progress)
    assert index is not None
    log.info("frozen regime: %d passage vectors in %s; only the query encoder trains", store.num_rows,
             store.directory)
    f = t.frozen
    step = FrozenPassageStep(model, store, collection.corpus, view.qrels, loss_fn,
                             candidates=f.candidates,  # type: ignore[arg-type]
                             topk=f.topk, max_judged=f.max_judged, random_negatives=f.random, seed=app.seed,
                             excluded=view.heldout, correct=f.correct, search=f.search)  # type: ignore[arg-type]
    # the lists come from the frozen corpus; the groups only pick each query's positive
    sampler = GroupSampler(view.queries, view.qrels, collection.corpus.ids, RandomNegatives(), group_size=2,
                           max_positives=1, seed=app.seed)
    return RegimeParts(sampler, step=step, frozen_index=index)


def check_group_size(t: TrainConfig, corpus_size: int, qrels: Mapping[str, Mapping[str, int]],
                     queries: Mapping[str, str]) -> None:
    """Every training group can be filled: ``group_size`` documents exist for every query (else the groups
    would be silently shorter than asked)."""
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


def mined_by_rank0(dist: Dist, mine: Callable[[], PrecomputedNegatives]) -> PrecomputedNegatives:
    """Rank 0 mines (one corpus encoding, one store writer); the other ranks receive its lists."""
    mined = dist.broadcast_object(mine() if dist.is_main else None, "receiving rank 0's mined negatives")
    assert mined is not None
    return mined
