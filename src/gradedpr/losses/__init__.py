"""NDCG-surrogate losses for dual-encoder training, each a pure function ``(scores, labels, mask) -> scalar``.

Build a loss by name with :func:`get_loss` (``get_loss("listnet", gain="exp2")``); importing this package
registers every loss module. Formulas, defaults and citations: ``docs/losses.md``.
"""

from __future__ import annotations

from gradedpr.losses import listnet, nll  # noqa: F401  (imported to register the losses)
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
