"""Schedules in epochs (train.epochs capped by train.max_steps)."""

from __future__ import annotations

import pytest

from gradedpr.config.schema import TrainConfig
from gradedpr.errors import ConfigError
from gradedpr.train.schedule import resolve_schedule


@pytest.mark.parametrize(("queries", "steps", "every"), [(100, 38, 4), (2590, 972, 97), (100_000, 1000, 3750)])
def test_epochs_give_steps_capped_by_max_steps(queries: int, steps: int, every: int) -> None:
    t = TrainConfig(batch_size=16, max_steps=1000, epochs=6, eval_every_epochs=0.6)
    resolved = resolve_schedule(t, queries)
    assert resolved.max_steps == steps  # ceil(6 * queries / 16), at most 1,000
    assert resolved.eval_every == every  # round(0.6 * queries / 16)
    assert resolved.lr == t.lr and t.max_steps == 1000  # nothing else changes; the input is not modified


def test_without_epochs_the_step_schedule_is_kept() -> None:
    t = TrainConfig(max_steps=50, eval_every=10)
    assert resolve_schedule(t, 3) is t


def test_accumulation_counts_in_optimiser_steps() -> None:
    t = TrainConfig(batch_size=8, grad_accum=2, max_steps=1000, epochs=1)
    assert resolve_schedule(t, 160).max_steps == 10


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"epochs": -1.0}, {"eval_every_epochs": 1.0},
                                 {"heldout_docs": 1.0}, {"heldout_docs": 0.3, "negatives": "bm25"},  # mined negatives
                                 {"guard_p": 0.0}, {"guard_p": 0.05, "eval_at_start": False},
                                 {"query_subset": 0}])
def test_bad_generalization_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError, match=r"train\."):
        TrainConfig(**bad)
