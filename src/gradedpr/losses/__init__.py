"""NDCG-surrogate losses for dual-encoder training, each a pure function ``(scores, labels, mask) -> scalar``.

Build a loss by name with :func:`get_loss` (``get_loss("listnet", gain="exp2")``); importing this package
registers every loss module. Formulas, defaults and citations: ``docs/losses.md``.
"""

from __future__ import annotations

# imported for their side effect: each module registers its loss
from gradedpr.losses import (  # noqa: F401
    approx_ndcg,
    graded_infonce,
    lambdaloss,
    listmle,
    listnet,
    neural_ndcg,
    nll,
    ranknet,
    xe_ndcg,
)
from gradedpr.losses.registry import (
    LOSSES,
    BoundLoss,
    LossFn,
    available_losses,
    get_loss,
    loss_hyperparameters,
    register_loss,
)

__all__ = [
    "LOSSES",
    "BoundLoss",
    "LossFn",
    "available_losses",
    "get_loss",
    "loss_hyperparameters",
    "register_loss",
]
