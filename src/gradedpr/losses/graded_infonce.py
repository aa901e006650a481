"""Graded InfoNCE: multi-positive InfoNCE with gain-weighted positives, each against the negatives only."""

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
    masked_logsumexp,
    reduce_lists,
    relevant,
    safe_divide,
    widen_for_gain,
)
from gradedpr.losses.registry import register_loss


@register_loss("graded_infonce")
def graded_infonce_loss(scores: Tensor, labels: Tensor, mask: Tensor, *, gain: Gain = "exp2") -> Tensor:
    r"""Gain-weighted multi-positive InfoNCE.

    Positives :math:`P` = valid items with grade > 0, negatives :math:`N` = valid items with grade <= 0:

    .. math::
        w_i = \frac{G(y_i)}{\sum_{p \in P} G(y_p)}, \qquad
        \ell = -\sum_{i \in P} w_i \log \frac{e^{s_i}}{e^{s_i} + \sum_{j \in N} e^{s_j}}

    Each positive competes against the negatives only, never against the other positives, so two relevant
    documents are not pushed apart (unlike the single-softmax form of ListNet / NLL). This is InfoNCE
    (van den Oord, Li, Vinyals 2018, "Representation learning with contrastive predictive coding") with
    several positives as in supervised contrastive learning (Khosla et al. 2020, "Supervised contrastive
    learning", NeurIPS; their :math:`\mathcal L_{out}` averages per-positive terms, here weighted by gain).
    Each term bounds :math:`\ln` of the rank of positive i among the negatives (see ``nll``), so the loss
    bounds a gain-weighted mean log-rank of the positives.

    Hyperparameters: ``gain`` ``"exp2"`` (default, :math:`2^y - 1`) or ``"linear"``. With no negative in a
    list every term is 0. Lists without a positive are excluded by the common reduction rule.
    """
    check_choice("gain", gain, GAINS)
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    clean, grades = widen_for_gain(clean, grades, mask, gain)
    is_pos = relevant(grades, mask)
    is_neg = mask & ~is_pos
    neg_lse = masked_logsumexp(clean, is_neg, dim=-1).unsqueeze(-1)  # ~finfo.min when there is no negative
    log_p = clean - torch.logaddexp(clean, neg_lse)
    g = gains(grades, mask, gain)
    w = safe_divide(g, g.sum(dim=-1, keepdim=True))
    per_list = -torch.where(is_pos, w * log_p, torch.zeros_like(log_p)).sum(dim=-1)
    return reduce_lists(per_list, has_relevant(grades, mask), clean).to(scores.dtype)
