"""A training run's retrieval of one split (dev during training, test at the end) and its evaluation.

The frozen regime searches its fixed passage index; the other regimes encode the corpus with the current
passage encoder (again only when the passages changed: :class:`~gradedpr.index.retrieval.FlatIndexCache`), at
``train.eval_passage_max_length`` for dev and ``train.test_passage_max_length`` for test; with
``train.dev_pool`` dev encodes only its fixed candidate pool (:mod:`gradedpr.train.dev_pool`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from gradedpr.config.schema import TrainConfig
from gradedpr.data.collection import Collection
from gradedpr.evaluation.measures import DEFAULT_MEASURES
from gradedpr.evaluation.metrics import evaluate_run
from gradedpr.index.dense import DenseIndex
from gradedpr.index.retrieval import FlatIndexCache, retrieve
from gradedpr.model.biencoder import BiEncoder
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


def split_passage_length(split: str, eval_split: str | None, eval_length: int | None,
                         test_length: int | None) -> int | None:
    """The passage tokens a run's evaluation of ``split`` uses: ``train.test_passage_max_length`` for any split
    but the dev split (``train.eval_split``) when it is set, else ``train.eval_passage_max_length`` (None: the
    model's own ``passage_max_length``). One rule for the trainer's test and a blind study's later scoring."""
    if split != eval_split and test_length is not None:
        return test_length
    return eval_length


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
