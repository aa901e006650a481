"""nll and listnet: hand-computed values on 1 x 3 lists (their brute-force references run in test_loss_values.py)."""

from __future__ import annotations

import math

import pytest
import torch

from gradedpr.losses import get_loss

LN2 = math.log(2.0)
ALL3 = torch.ones(1, 3, dtype=torch.bool)
# scores [ln 2, 0, 0] -> softmax = [2/4, 1/4, 1/4] (e^ln2 = 2, e^0 = 1, total 4)
S = torch.tensor([[LN2, 0.0, 0.0]])


def test_nll_hand_values() -> None:
    nll = get_loss("nll")
    # labels [0, 2, 1]: target = column 1 (the grade-2 item); p = 1/4 -> loss = ln 4
    assert nll(S, torch.tensor([[0, 2, 1]]), ALL3).item() == pytest.approx(math.log(4.0), abs=1e-6)
    # labels [1, 1, 0]: tie at the top grade -> first column (p = 1/2) -> ln 2
    assert nll(S, torch.tensor([[1, 1, 0]]), ALL3).item() == pytest.approx(LN2, abs=1e-6)
    # labels [0, 1, 1] with "all": -ln(1/4 + 1/4) = ln 2; with first_max: column 1 -> ln 4
    assert get_loss("nll", positive="all")(S, torch.tensor([[0, 1, 1]]), ALL3).item() == pytest.approx(LN2, abs=1e-6)
    assert nll(S, torch.tensor([[0, 1, 1]]), ALL3).item() == pytest.approx(math.log(4.0), abs=1e-6)
    # padding the first column away: softmax over [0, 0] = [1/2, 1/2] -> ln 2
    assert nll(S, torch.tensor([[5, 2, 1]]), torch.tensor([[False, True, True]])).item() == pytest.approx(LN2, abs=1e-6)


def test_listnet_hand_values() -> None:
    labels = torch.tensor([[2, 0, 1]])
    # exp2 gains [3, 0, 1] -> t = [3/4, 0, 1/4]
    # loss = -(3/4 ln 1/2 + 1/4 ln 1/4) = 3/4 ln 2 + 1/2 ln 2 = 5/4 ln 2
    assert get_loss("listnet")(S, labels, ALL3).item() == pytest.approx(1.25 * LN2, abs=1e-6)
    # linear gains [2, 0, 1] -> t = [2/3, 0, 1/3]; loss = 2/3 ln 2 + 1/3 * 2 ln 2 = 4/3 ln 2
    assert get_loss("listnet", gain="linear")(S, labels, ALL3).item() == pytest.approx(4 / 3 * LN2, abs=1e-6)
    # softmax target over grades [2, 0, 1]: t = e^y / (e^2 + 1 + e)
    z = math.e**2 + 1 + math.e
    t = [math.e**2 / z, 1 / z, math.e / z]
    expected = -(t[0] * math.log(0.5) + t[1] * math.log(0.25) + t[2] * math.log(0.25))
    assert get_loss("listnet", target="softmax")(S, labels, ALL3).item() == pytest.approx(expected, abs=1e-6)


def test_nll_uses_first_highest_grade_not_first_positive() -> None:
    scores = torch.tensor([[5.0, 0.0, 1.0, 2.0]])
    labels = torch.tensor([[1, 0, 2, 2]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    log_p = torch.log_softmax(scores, dim=-1)
    assert get_loss("nll")(scores, labels, mask).item() == pytest.approx(-log_p[0, 2].item(), abs=1e-6)
