"""The learning-rate schedule: linear warmup whose first update already moves, then linear decay to 0.

transformers' ``get_linear_schedule_with_warmup`` has the same decay but starts its warmup at 0 (its first update
has lr 0), so it is the same schedule one step late during warmup: swapping it in would change every run with
``train.warmup_ratio > 0``. These tests pin both facts.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch.optim.lr_scheduler import LRScheduler
from transformers import get_linear_schedule_with_warmup

from gradedpr.train.optim import linear_warmup_decay


def _rates(make: Callable[[torch.optim.Optimizer], LRScheduler], steps: int, lr: float = 0.5) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warmup_then_decay_step_by_step() -> None:
    rates = _rates(lambda opt: linear_warmup_decay(opt, 4, 10), 11, lr=0.5)
    expected = [0.125, 0.25, 0.375, 0.5, 0.5, 5 / 12, 1 / 3, 0.25, 1 / 6, 1 / 12, 0.0]
    assert rates == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("warmup", "total"), [(0, 7), (1, 7), (3, 12), (10, 11)])
def test_same_decay_as_transformers_and_warmup_one_step_earlier(warmup: int, total: int) -> None:
    ours = _rates(lambda opt: linear_warmup_decay(opt, warmup, total), total + 1)
    theirs = _rates(lambda opt: get_linear_schedule_with_warmup(opt, warmup, total), total + 2)
    assert ours[warmup:] == pytest.approx(theirs[warmup : total + 1], abs=1e-12)
    assert ours[:warmup] == pytest.approx(theirs[1 : warmup + 1], abs=1e-12)
    if warmup:
        assert theirs[0] == 0.0 < ours[0]


def test_a_restored_scheduler_continues_the_same_rates() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.5)
    scheduler = linear_warmup_decay(optimizer, 3, 9)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    tail = _rates(lambda opt: linear_warmup_decay(opt, 3, 9), 10)[4:]

    fresh_optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    restored = linear_warmup_decay(fresh_optimizer, 3, 9)
    restored.load_state_dict(state)
    fresh_optimizer.param_groups[0]["lr"] = restored.get_last_lr()[0]
    resumed = []
    for _ in range(6):
        resumed.append(fresh_optimizer.param_groups[0]["lr"])
        fresh_optimizer.step()
        restored.step()
    assert resumed == pytest.approx(tail, abs=1e-12)
