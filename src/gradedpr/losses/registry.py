"""Name -> loss function registry.

Every loss is a pure function ``fn(scores, labels, mask, **hyperparameters) -> scalar tensor`` registered
under a short name with :func:`register_loss`. The trainer builds its loss with
``get_loss(cfg.loss.name, **cfg.loss.kwargs)``, which binds the hyperparameters and checks them at once:
an unknown name, an unknown keyword or a bad value raises ``ValueError`` when the loss is *built*, not in the
middle of training.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

LossFn = Callable[..., Tensor]
"""A registered loss: ``fn(scores, labels, mask, **hyperparameters) -> Tensor[]``."""

BoundLoss = Callable[[Tensor, Tensor, Tensor], Tensor]
"""A loss with its hyperparameters bound: ``fn(scores, labels, mask) -> Tensor[]``."""

LOSSES: dict[str, LossFn] = {}
"""All registered losses by name (filled when :mod:`gradedpr.losses` is imported)."""

_POSITIONAL = ("scores", "labels", "mask")


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    """Decorator registering ``fn`` under ``name``; ``fn`` must take ``(scores, labels, mask, *, ...)``."""

    def decorator(fn: LossFn) -> LossFn:
        if name in LOSSES and LOSSES[name] is not fn:
            raise ValueError(f"a loss named {name!r} is already registered ({LOSSES[name].__module__})")
        params = list(inspect.signature(fn).parameters)
        if tuple(params[:3]) != _POSITIONAL:
            raise ValueError(f"loss {name!r} must take (scores, labels, mask, ...) first; got {params[:3]}")
        LOSSES[name] = fn
        return fn

    return decorator


def available_losses() -> list[str]:
    """Sorted names of every registered loss."""
    return sorted(LOSSES)


def loss_hyperparameters(name: str) -> dict[str, Any]:
    """The keyword hyperparameters of loss ``name`` with their defaults."""
    fn = _lookup(name)
    return {
        p.name: p.default
        for p in inspect.signature(fn).parameters.values()
        if p.name not in _POSITIONAL and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def get_loss(name: str, **kwargs: Any) -> BoundLoss:
    """Return loss ``name`` with ``kwargs`` bound (a ``functools.partial``).

    Raises ``ValueError`` for an unknown name (listing the valid names), an unknown keyword (listing the
    valid ones) or a bad hyperparameter value (found by calling the loss once on a tiny 1 x 2 list; the
    global RNG and any ``generator`` passed in are restored afterwards, so building a loss consumes no
    randomness).
    """
    fn = _lookup(name)
    valid = loss_hyperparameters(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        allowed = ", ".join(sorted(valid)) or "(none)"
        raise ValueError(f"unknown hyperparameter(s) {unknown} for loss {name!r}; valid: {allowed}")
    bound = functools.partial(fn, **kwargs)
    _dry_run(name, bound, kwargs.get("generator"))
    return bound


def _lookup(name: str) -> LossFn:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(available_losses())}")
    return LOSSES[name]


def _dry_run(name: str, bound: BoundLoss, generator: object) -> None:
    """Call ``bound`` on a 1 x 2 list so bad hyperparameter values fail now, without consuming randomness."""
    gen_state = generator.get_state() if isinstance(generator, torch.Generator) else None
    device = generator.device if isinstance(generator, torch.Generator) else torch.device("cpu")
    try:
        with torch.random.fork_rng(devices=[]):
            bound(
                torch.tensor([[1.0, 0.0]], device=device),
                torch.tensor([[1, 0]], device=device),
                torch.tensor([[True, True]], device=device),
            )
    except (TypeError, ValueError) as err:
        raise ValueError(f"bad hyperparameters for loss {name!r}: {err}") from err
    finally:
        if gen_state is not None and isinstance(generator, torch.Generator):
            generator.set_state(gen_state)
