"""Deterministic configurations of every registered loss, shared by the property tests.

``CASES`` lists hyper-parameter variants worth checking; every registered loss without one is added with its
defaults, so a new loss is covered as soon as it is registered (list it here only for variants, or when its
defaults are random or tie-sensitive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from gradedpr.losses import BoundLoss, available_losses, get_loss


@dataclass(frozen=True)
class Case:
    """One loss with fixed hyperparameters (no randomness), and which laws need tie-free grades."""

    id: str
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    tie_sensitive: bool = False  # the value depends on the column order of equal grades

    def build(self) -> BoundLoss:
        return get_loss(self.name, **self.kwargs)


_VARIANTS: list[Case] = [
    Case("nll", "nll", tie_sensitive=True),
    Case("nll_all", "nll", {"positive": "all"}),
    Case("listnet", "listnet"),
    Case("listnet_linear", "listnet", {"gain": "linear"}),
    Case("listnet_softmax", "listnet", {"target": "softmax"}),
    Case("xe_ndcg", "xe_ndcg", {"gamma": 0.5}),
    Case("xe_ndcg_linear", "xe_ndcg", {"gamma": 0.2, "gain": "linear"}),
    Case("listmle", "listmle", {"tie_break": "index"}, tie_sensitive=True),
    Case("listmle_relevant", "listmle", {"tie_break": "index", "relevant_only": True}, tie_sensitive=True),
    Case("listmle_k", "listmle", {"tie_break": "index", "k": 3}, tie_sensitive=True),
    Case("approx_ndcg", "approx_ndcg"),
    Case("approx_ndcg_k", "approx_ndcg", {"k": 3, "gain": "linear"}),
    Case("neural_ndcg", "neural_ndcg"),
    Case("neural_ndcg_k", "neural_ndcg", {"k": 3, "gain": "linear"}),
    Case("lambdaloss_ndcg_loss1", "lambdaloss", {"weighting": "ndcg_loss1"}),
    Case("lambdaloss_ndcg_loss2", "lambdaloss", {"weighting": "ndcg_loss2"}),
    Case("lambdaloss_ndcg_loss2pp", "lambdaloss", {"weighting": "ndcg_loss2pp"}),
    Case("lambdaloss_lambdarank", "lambdaloss", {"weighting": "lambdarank"}),
    Case("lambdaloss_ranknet", "lambdaloss", {"weighting": "ranknet"}),
    Case("lambdaloss_k", "lambdaloss", {"k": 3, "gain": "linear"}),
    Case("ranknet", "ranknet"),
    Case("graded_infonce", "graded_infonce"),
    Case("graded_infonce_linear", "graded_infonce", {"gain": "linear"}),
]

CASES: list[Case] = _VARIANTS + [
    Case(name, name) for name in available_losses() if name not in {case.name for case in _VARIANTS}
]


def loss_and_grad(
    case: Case, scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss value (detached) and d loss / d scores."""
    leaf = scores.detach().clone().requires_grad_(True)
    value = case.build()(leaf, labels, mask)
    assert value.dim() == 0
    (grad,) = torch.autograd.grad(value, leaf)
    return value.detach(), grad
