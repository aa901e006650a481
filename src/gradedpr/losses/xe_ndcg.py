"""XE-NDCG: softmax cross-entropy against a randomly smoothed, gain-shaped target."""

from __future__ import annotations

import torch
from torch import Tensor

from gradedpr.losses.ranking_utils import (
    GAINS,
    Gain,
    check_choice,
    check_inputs,
    empty_loss,
    gains,
    has_relevant,
    masked_log_softmax,
    reduce_lists,
    safe_divide,
    widen_for_gain,
)
from gradedpr.losses.registry import register_loss


@register_loss("xe_ndcg")
def xe_ndcg_loss(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    gain: Gain = "exp2",
    gamma: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""XE-NDCG (Bruch, Wang, Bendersky, Najork 2019, "An alternative cross entropy loss for
    learning-to-rank", WWW).

    .. math::
        \phi_i = \frac{G(y_i) + 1 - \gamma_i}{\sum_{j \text{ valid}} (G(y_j) + 1 - \gamma_j)}, \qquad
        \ell = -\sum_{i \text{ valid}} \phi_i \log \mathrm{softmax}(s)_i

    With the default ``gain="exp2"`` (:math:`G = 2^y - 1`) the numerator is the paper's
    :math:`2^{y_i} - \gamma_i`; ``gain="linear"`` uses :math:`y_i + 1 - \gamma_i`.
    :math:`\gamma_i \sim U(0, 1)` is drawn per item and call (``gamma=None``, default; from ``generator``
    if given, else torch's global RNG): the noise gives non-relevant items a small random target mass.
    Pass a float ``gamma`` in [0, 1] for a deterministic target (``gamma=1`` with ``exp2`` is ListNet with
    normalised gains).

    What it bounds: per the paper, the loss is convex in the scores, a bound on NDCG (exponential gains)
    and consistent with NDCG in the usual learning settings. Lists without a relevant valid item are
    excluded by the common reduction rule, as with every loss here.
    """
    check_choice("gain", gain, GAINS)
    if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must be None (random per item) or a number in [0, 1]; got {gamma!r}")
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    if gamma is None:
        device = generator.device if generator is not None else clean.device
        noise = torch.rand(clean.shape, generator=generator, device=device, dtype=clean.dtype).to(clean.device)
    else:
        noise = torch.full_like(clean, float(gamma))
    clean, grades = widen_for_gain(clean, grades, mask, gain)
    noise = noise.to(clean.dtype)
    weight = (gains(grades, mask, gain) + 1.0 - noise).masked_fill(~mask, 0.0)
    phi = safe_divide(weight, weight.sum(dim=-1, keepdim=True))
    per_list = -(phi * masked_log_softmax(clean, mask)).sum(dim=-1)
    return reduce_lists(per_list, has_relevant(grades, mask), clean).to(scores.dtype)
