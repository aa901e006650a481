"""Every loss against its brute-force reference (plain Python loops) on small random masked cases."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import loss_reference as ref
import pytest
import torch

from gradedpr.losses import get_loss

# (loss name, kwargs for the loss, reference function, kwargs for the reference)
REFERENCE_CASES: list[tuple[str, dict[str, Any], Callable[..., float], dict[str, Any]]] = [
    ("xe_ndcg", {"gamma": 0.3}, ref.ref_xe_ndcg, {"gamma": 0.3}),
    ("xe_ndcg", {"gamma": 0.7, "gain": "linear"}, ref.ref_xe_ndcg, {"gamma": 0.7, "gain": "linear"}),
    ("listmle", {"tie_break": "index"}, ref.ref_listmle, {}),
    ("listmle", {"tie_break": "index", "k": 3}, ref.ref_listmle, {"k": 3}),
    ("listmle", {"tie_break": "index", "relevant_only": True}, ref.ref_listmle, {"relevant_only": True}),
    ("approx_ndcg", {}, ref.ref_approx_ndcg, {}),
    (
        "approx_ndcg",
        {"k": 3, "temperature": 0.5, "gain": "linear", "cutoff_temperature": 0.2},
        ref.ref_approx_ndcg,
        {"k": 3, "temperature": 0.5, "gain": "linear", "cutoff_temperature": 0.2},
    ),
    ("neural_ndcg", {}, ref.ref_neural_ndcg, {}),
    (
        "neural_ndcg",
        {"k": 3, "temperature": 0.3, "gain": "linear"},
        ref.ref_neural_ndcg,
        {"k": 3, "temperature": 0.3, "gain": "linear"},
    ),
    ("neural_ndcg", {"max_iter": 0}, ref.ref_neural_ndcg, {"max_iter": 0}),
    ("ranknet", {}, ref.ref_ranknet, {}),
    ("ranknet", {"sigma": 2.0}, ref.ref_ranknet, {"sigma": 2.0}),
    ("graded_infonce", {}, ref.ref_graded_infonce, {}),
    ("graded_infonce", {"gain": "linear"}, ref.ref_graded_infonce, {"gain": "linear"}),
]
for _w in ("ndcg_loss1", "ndcg_loss2", "ndcg_loss2pp", "lambdarank", "ranknet"):
    REFERENCE_CASES.append(("lambdaloss", {"weighting": _w}, ref.ref_lambdaloss, {"weighting": _w}))
    REFERENCE_CASES.append(
        (
            "lambdaloss",
            {"weighting": _w, "k": 3, "gain": "linear", "sigma": 0.5, "mu": 3.0},
            ref.ref_lambdaloss,
            {"weighting": _w, "k": 3, "gain": "linear", "sigma": 0.5, "mu": 3.0},
        )
    )


def random_case(seed: int, batch: int = 4, size: int = 7) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random float64 scores (distinct), grades in -1..3, ~25% padding, one list without a relevant item."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, size, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(-1, 4, (batch, size), generator=g)
    mask = torch.rand(batch, size, generator=g) > 0.25
    labels[-1] = labels[-1].clamp(max=0)
    return scores, labels, mask


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    ("name", "kwargs", "reference", "ref_kwargs"),
    REFERENCE_CASES,
    ids=[f"{c[0]}-{'-'.join(f'{k}={v}' for k, v in c[1].items())}" for c in REFERENCE_CASES],
)
def test_matches_brute_force_reference(
    seed: int, name: str, kwargs: dict[str, Any], reference: Callable[..., float], ref_kwargs: dict[str, Any]
) -> None:
    scores, labels, mask = random_case(seed)
    got = get_loss(name, **kwargs)(scores, labels, mask).item()
    want = reference(scores.tolist(), labels.tolist(), mask.tolist(), **ref_kwargs)
    assert got == pytest.approx(want, abs=1e-9, rel=1e-9)


def test_xe_ndcg_hand_value() -> None:
    # scores [ln 2, 0, 0] -> softmax [1/2, 1/4, 1/4]; labels [1, 0, 0]; gamma = 0.5, exp2:
    # weights 2 - 0.5 = 1.5, 1 - 0.5 = 0.5, 0.5 -> phi = [0.6, 0.2, 0.2]
    # loss = -(0.6 ln 1/2 + 0.4 ln 1/4) = 0.6 ln 2 + 0.8 ln 2 = 1.4 ln 2
    scores = torch.tensor([[math.log(2.0), 0.0, 0.0]])
    value = get_loss("xe_ndcg", gamma=0.5)(scores, torch.tensor([[1, 0, 0]]), torch.ones(1, 3, dtype=torch.bool))
    assert value.item() == pytest.approx(1.4 * math.log(2.0), abs=1e-6)


def test_xe_ndcg_gamma_one_is_listnet() -> None:
    scores, labels, mask = random_case(7)
    a = get_loss("xe_ndcg", gamma=1.0)(scores, labels, mask)
    b = get_loss("listnet")(scores, labels, mask)
    assert a.item() == pytest.approx(b.item(), abs=1e-12)


def test_xe_ndcg_random_gamma_reproducible_with_generator() -> None:
    scores, labels, mask = random_case(1)
    a = get_loss("xe_ndcg", generator=torch.Generator().manual_seed(5))(scores, labels, mask)
    b = get_loss("xe_ndcg", generator=torch.Generator().manual_seed(5))(scores, labels, mask)
    c = get_loss("xe_ndcg", generator=torch.Generator().manual_seed(6))(scores, labels, mask)
    assert a.item() == b.item()
    assert a.item() != c.item()
    assert math.isfinite(get_loss("xe_ndcg")(scores, labels, mask).item())  # global RNG path


def test_listmle_random_ties_equal_index_ties_without_ties() -> None:
    scores = torch.randn(2, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = torch.tensor([[4, 0, 2, 3, 1], [1, 3, 0, 2, 4]])
    mask = torch.ones(2, 5, dtype=torch.bool)
    rand = get_loss("listmle", generator=torch.Generator().manual_seed(1))(scores, labels, mask)
    index = get_loss("listmle", tie_break="index")(scores, labels, mask)
    assert rand.item() == pytest.approx(index.item(), abs=1e-12)


def test_listmle_random_ties_average_over_orders() -> None:
    """Random tie-breaking: the mean over many draws approaches the mean over all tie orders."""
    scores = torch.tensor([[0.5, -0.3, 1.2]], dtype=torch.float64)
    labels = torch.tensor([[1, 0, 0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    loss = get_loss("listmle", generator=torch.Generator().manual_seed(0))
    draws = [loss(scores, labels, mask).item() for _ in range(400)]
    # the two orders of the tied items: (0, 1, 2) and (0, 2, 1)
    orders = [ref.ref_listmle([[0.5, -0.3, 1.2]], [[1, 0, 0]], [[True] * 3])]
    orders.append(ref.ref_listmle([[0.5, 1.2, -0.3]], [[1, 0, 0]], [[True] * 3]))
    assert set(round(d, 9) for d in draws) == set(round(o, 9) for o in orders)
    assert sum(draws) / len(draws) == pytest.approx(sum(orders) / 2, rel=0.05)


def test_listmle_rejects_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="k must be"):
        get_loss("listmle", k=0)
    with pytest.raises(ValueError, match="tie_break"):
        get_loss("listmle", tie_break="score")


def test_other_bad_hyperparameters_rejected() -> None:
    with pytest.raises(ValueError, match="temperature"):
        get_loss("approx_ndcg", temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        get_loss("neural_ndcg", temperature=-1.0)
    with pytest.raises(ValueError, match="weighting"):
        get_loss("lambdaloss", weighting="ndcg_loss3")
    with pytest.raises(ValueError, match="gamma"):
        get_loss("xe_ndcg", gamma=1.5)
    with pytest.raises(ValueError, match="max_iter"):
        get_loss("neural_ndcg", max_iter=-1)
    with pytest.raises(ValueError, match="sigma"):
        get_loss("ranknet", sigma=float("nan"))


def test_bad_inputs_rejected() -> None:
    loss = get_loss("listnet")
    ok = torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="same shape"):
        loss(ok[0], ok[1][:, :2], ok[2])
    with pytest.raises(ValueError, match=r"\[B, M\]"):
        loss(ok[0].flatten(), ok[1].flatten(), ok[2].flatten())
    with pytest.raises(ValueError, match="mask must be a bool"):
        loss(ok[0], ok[1], ok[2].long())
    with pytest.raises(ValueError, match="floating-point"):
        loss(ok[1], ok[1], ok[2])
