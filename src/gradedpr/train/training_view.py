"""What a training run may see of the training split: all of it, a seeded subset of its queries
(``train.query_subset``), and/or the corpus minus a seeded share of held-out documents (``train.heldout_docs``,
whose judgments are dropped; the frozen step masks them out of every list)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gradedpr.config.schema import TrainConfig
from gradedpr.data.subsets import drop_documents, heldout_documents, sample_queries
from gradedpr.errors import ConfigError
from gradedpr.types import Qrels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingView:
    qrels: Qrels
    queries: dict[str, str]
    heldout: frozenset[str]


def training_view(t: TrainConfig, qrels: Mapping[str, Mapping[str, int]], queries: Mapping[str, str],
                  corpus_ids: Sequence[str], run_seed: int) -> TrainingView:
    """The training qrels and queries a run trains on, and the documents it must never see."""
    seed = run_seed if t.subset_seed is None else t.subset_seed
    heldout = heldout_documents(list(corpus_ids), t.heldout_docs, seed) if t.heldout_docs else frozenset()
    kept: Qrels = drop_documents(qrels, heldout) if heldout else {q: dict(j) for q, j in qrels.items()}
    if heldout:
        log.info("unseen documents: %d of %d held out of training (seed %d); %d of %d training queries keep a "
                 "judged document", len(heldout), len(corpus_ids), seed, len(kept), len(qrels))
    if t.query_subset is not None:
        usable = [q for q, judged in kept.items() if q in queries and any(g > 0 for g in judged.values())]
        if t.query_subset > len(usable):
            raise ConfigError(f"train.query_subset={t.query_subset}: the training split has only {len(usable)} "
                              "queries with a relevant document")
        chosen = set(sample_queries(usable, t.query_subset, seed))
        kept = {q: judged for q, judged in kept.items() if q in chosen}
        log.info("query subset: %d of %d training queries (seed %d)", len(kept), len(usable), seed)
    return TrainingView(kept, {q: text for q, text in queries.items() if q in kept}, heldout)
