"""Schedules in epochs: ``train.epochs`` (capped by ``train.max_steps``) turned into optimiser steps.

A fixed step count means very different things for 100 and for 10,000 training queries (1,000 steps of 16
queries are 160 epochs of the first and 1.6 of the second); a schedule in epochs scales with the collection.
"""

from __future__ import annotations

import dataclasses
import math

from gradedpr.config.schema import TrainConfig


def steps_per_epoch(num_queries: int, batch_size: int, grad_accum: int = 1) -> float:
    """Optimiser steps that visit every training query once (fractional: the last batch may be partial)."""
    return num_queries / (batch_size * grad_accum)


def resolve_schedule(t: TrainConfig, num_queries: int) -> TrainConfig:
    """``t`` with ``max_steps`` and ``eval_every`` in steps when ``t.epochs`` is set (else ``t`` unchanged).

    ``max_steps = min(max_steps, ceil(epochs * steps_per_epoch))`` and, with ``eval_every_epochs``,
    ``eval_every = max(1, round(eval_every_epochs * steps_per_epoch))``.
    """
    if t.epochs is None:
        return t
    per_epoch = steps_per_epoch(num_queries, t.batch_size, t.grad_accum)
    steps = max(1, min(t.max_steps, math.ceil(t.epochs * per_epoch)))
    eval_every = t.eval_every
    if t.eval_every_epochs is not None:
        eval_every = max(1, round(t.eval_every_epochs * per_epoch))
    return dataclasses.replace(t, max_steps=steps, eval_every=eval_every)
