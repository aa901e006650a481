"""Passage lengths at evaluation: which length a run's evaluation of a split uses, and encoding at it.

A run trains at ``model.passage_max_length`` and may evaluate dev and test at other lengths
(``train.eval_passage_max_length``, ``train.test_passage_max_length``); the trainer's evaluations and a blind
study's later test scoring use the same rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gradedpr.model.biencoder import BiEncoder


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
