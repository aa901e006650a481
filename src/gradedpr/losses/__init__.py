"""NDCG-surrogate losses for dual-encoder training, each a pure function ``(scores, labels, mask) -> scalar``.

Build a loss by name with :func:`get_loss` (``get_loss("listnet", gain="exp2")``); importing this package
imports every module in it, and each loss module registers its loss (``@register_loss``): a new loss is a new
file, nothing here changes. Formulas, defaults and citations: ``docs/losses.md``.
"""

from __future__ import annotations

import importlib
import pkgutil

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

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
