"""Every loss against its brute-force reference (plain Python loops) on small random masked cases."""

from __future__ import annotations

import math

import loss_reference as ref
import pytest
import torch

from gradedpr.losses import LOSSES, available_losses, get_loss

REFERENCE_CASES = [case for name in available_losses() for case in ref.REFERENCES.get(name, [])]
"""Every registered loss at every setting its reference in loss_reference.py is registered for."""


def losses_without_reference() -> list[str]:
    return [name for name in available_losses() if not ref.REFERENCES.get(name)]


def test_every_registered_loss_has_a_reference_case() -> None:
    assert losses_without_reference() == [], "add a brute-force @reference(...) in tests/losses/loss_reference.py"
    assert set(ref.REFERENCES) <= set(LOSSES), "a reference names a loss that is not registered"


def test_a_new_loss_without_reference_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LOSSES, "brand_new_loss", LOSSES["listnet"])
    assert losses_without_reference() == ["brand_new_loss"]


def random_case(seed: int, batch: int = 4, size: int = 7) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random float64 scores (distinct), grades in -1..3, ~25% padding, one list without a relevant item."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, size, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(-1, 4, (batch, size), generator=g)
    mask = torch.rand(batch, size, generator=g) > 0.25
    labels[-1] = labels[-1].clamp(max=0)
    return scores, labels, mask


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", REFERENCE_CASES, ids=[case.id for case in REFERENCE_CASES])
def test_matches_brute_force_reference(seed: int, case: ref.ReferenceCase) -> None:
    scores, labels, mask = random_case(seed)
    got = get_loss(case.loss, **case.kwargs, **case.loss_only)(scores, labels, mask).item()
    want = case.reference(scores.tolist(), labels.tolist(), mask.tolist(), **case.kwargs)
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
