"""A training run's retrieval of one split (dev during training, test at the end) and its evaluation.

The frozen regime searches its fixed passage index; the other regimes encode the corpus with the current
passage encoder (again only when the passages changed: :class:`~gradedpr.index.retrieval.FlatIndexCache`), at
``train.eval_passage_max_length`` for dev and ``train.test_passage_max_length`` for test; with
``train.dev_pool`` dev encodes only its fixed candidate pool (:mod:`gradedpr.train.dev_pool`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gradedpr.config.schema import TrainConfig
from gradedpr.data.collection import Collection
from gradedpr.evaluation.measures import DEFAULT_MEASURES
from gradedpr.evaluation.metrics import evaluate_run
from gradedpr.index.dense import DenseIndex
from gradedpr.index.retrieval import FlatIndexCache, retrieve
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.passage_length import passage_length, split_passage_length
from gradedpr.types import Run


class SplitRetrieval:
    """Runs and mean metrics of a split's queries under a model, as a training run scores them."""

    def __init__(self, collection: Collection, t: TrainConfig, frozen_index: DenseIndex | None = None,
                 pools: Mapping[str, Collection] | None = None) -> None:
        self.collection = collection
        self.pools = dict(pools or {})  # split -> the same collection over a fixed candidate pool (train.dev_pool)
        self.t = t
        self.frozen_index = frozen_index
        self.measures = list(dict.fromkeys([*DEFAULT_MEASURES, t.eval_metric]))  # with the metric that picks
        self.cache = FlatIndexCache()

    def passage_length(self, split: str) -> int | None:
        t = self.t
        return split_passage_length(split, t.eval_split, t.eval_passage_max_length, t.test_passage_max_length)

    def run(self, model: BiEncoder, split: str) -> Run:
        t = self.t
        if self.frozen_index is not None:
            return retrieve(model, self.collection, split, k=t.eval_k, index=self.frozen_index,
                            batch_size=t.eval_batch_size, show_progress=False)
        with passage_length(model, self.passage_length(split)):
            return retrieve(model, self.pools.get(split, self.collection), split, k=t.eval_k,
                            batch_size=t.eval_batch_size, show_progress=False, cache=self.cache)

    def evaluator(self, split: str) -> Callable[[BiEncoder], Mapping[str, float]]:
        """The mean metrics of ``split`` under a model (the trainer's dev evaluation)."""
        qrels = self.collection.qrels[split]

        def evaluate(model: BiEncoder) -> Mapping[str, float]:
            return evaluate_run(self.run(model, split), qrels, self.measures).mean

        return evaluate
