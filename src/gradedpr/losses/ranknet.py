"""RankNet: logistic loss on the score difference of every correctly-ordered-by-grade pair."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gradedpr.losses.ranking_utils import (
    check_inputs,
    check_positive,
    empty_loss,
    pair_mask,
    reduce_lists,
    safe_divide,
)
from gradedpr.losses.registry import register_loss


@register_loss("ranknet")
def ranknet_loss(scores: Tensor, labels: Tensor, mask: Tensor, *, sigma: float = 1.0) -> Tensor:
    r"""RankNet (Burges, Shaked, Renshaw, Lazier, Deeds, Hamilton, Hullender 2005, "Learning to rank using
    gradient descent", ICML): cross-entropy of :math:`P(i \succ j) = \sigma(\sigma_s (s_i - s_j))` against
    target 1 for every valid pair with :math:`y_i > y_j`:

    .. math::
        \ell = \frac{1}{|\{(i,j): y_i > y_j\}|} \sum_{y_i > y_j} \log\big(1 + e^{-\sigma_s (s_i - s_j)}\big)

    (natural log; mean over the pairs of a list, then the common rule over lists). It upper-bounds
    (times 1/ln 2) the fraction of mis-ordered pairs, not NDCG: every pair counts the same wherever it sits.

    Hyperparameters: ``sigma`` (default 1; scores are cosine / temperature already). No gain. Lists with no
    pair (all valid grades equal, e.g. no relevant item or only relevant items of one grade) are excluded --
    0 with a gradient path when no list has a pair, never NaN.
    """
    check_positive("sigma", sigma)
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    pairs = pair_mask(grades, mask)
    diff = clean.unsqueeze(-1) - clean.unsqueeze(-2)
    pair_loss = F.softplus(-sigma * diff)
    total = torch.where(pairs, pair_loss, torch.zeros_like(pair_loss)).sum(dim=(-2, -1))
    count = pairs.sum(dim=(-2, -1)).to(clean.dtype)
    return reduce_lists(safe_divide(total, count), count > 0, clean)
