"""Weight-space interpolation between the start model and the trained one (WiSE-FT: Wortsman et al., "Robust
fine-tuning of zero-shot models", CVPR 2022), with the mixing weight chosen on dev.

For ``alpha`` in ``train.interpolate``, every floating-point weight becomes ``(1 - alpha) * start + alpha *
trained`` (``alpha = 1``: the trained model; ``0``: the start model). Where training data are few, part of the
way is often better than all of it on queries the training never saw: the start model's general ranking is
kept while the trained direction is followed. The frozen regime's passage encoder is the same in both models,
so only the query encoder moves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch

from gradedpr.model.biencoder import BiEncoder

T = TypeVar("T")


def interpolate(start: BiEncoder, trained: BiEncoder, alpha: float) -> BiEncoder:
    """A new model with weights ``(1 - alpha) * start + alpha * trained`` (same architecture required)."""
    mixed = copy.deepcopy(trained)
    start_state = start.state_dict()
    with torch.no_grad():
        for name, value in mixed.state_dict().items():
            if name not in start_state or start_state[name].shape != value.shape:
                raise ValueError(f"cannot interpolate: the start model has no weight {name!r} of shape "
                                 f"{tuple(value.shape)}")
            if value.is_floating_point():
                value.copy_((1 - alpha) * start_state[name].to(value) + alpha * value)
    return mixed


@dataclass
class MixChoice:
    """The mixing weight with the best dev value (ties: the larger alpha) and every value measured."""

    alpha: float
    dev: dict[float, float] = field(default_factory=dict)


def choose_mix(start: BiEncoder, trained: BiEncoder, alphas: Sequence[float], trained_dev: tuple[float, T],
               evaluate: Callable[[BiEncoder], tuple[float, T]]) -> tuple[MixChoice, BiEncoder, T]:
    """Evaluate each interpolation on dev and return the best (``alpha = 1`` is the trained model itself).

    ``evaluate`` gives a model's dev value and what was computed on the way (e.g. its dev run), returned for the
    model kept so that the caller need not compute it again; ``trained_dev`` is the trained model's."""
    choice = MixChoice(alpha=1.0, dev={1.0: trained_dev[0]})
    best_model, best_extra = trained, trained_dev[1]
    for alpha in sorted(set(alphas) - {1.0}):
        mixed = interpolate(start, trained, alpha)
        value, extra = evaluate(mixed)
        choice.dev[alpha] = value
        if value > choice.dev[choice.alpha]:
            choice.alpha, best_model, best_extra = alpha, mixed, extra
    return choice, best_model, best_extra
