"""DPR's negative log-likelihood loss (the binary baseline every graded loss is compared against)."""

from __future__ import annotations

from torch import Tensor

from gradedpr.losses.ranking_utils import (
    check_choice,
    check_inputs,
    empty_loss,
    has_relevant,
    masked_log_softmax,
    masked_logsumexp,
    reduce_lists,
    relevant,
)
from gradedpr.losses.registry import register_loss

POSITIVE_MODES = ("first_max", "all")


@register_loss("nll")
def nll_loss(scores: Tensor, labels: Tensor, mask: Tensor, *, positive: str = "first_max") -> Tensor:
    r"""Softmax cross-entropy at one positive (DPR, Karpukhin et al. 2020, "Dense Passage Retrieval").

    Labels are binarised (grade > 0 = positive). With ``positive="first_max"`` (default) the target of a
    list is its highest-grade valid item, ties going to the first such column (the trainer puts the
    query's own sampled positive first, so this is DPR's "question's own positive"); every other valid
    item in the row -- other positives included -- is a negative:

    .. math:: \ell = -\log \frac{e^{s_{pos}}}{\sum_{j \text{ valid}} e^{s_j}}

    With ``positive="all"`` every positive counts (multi-positive likelihood,
    :math:`-\log \sum_{i: y_i > 0} p_i`). Grades beyond "relevant or not" are ignored. What it bounds:
    every item ranked above the positive has a score >= its score, so :math:`p_{pos} \le 1/\mathrm{rank}`
    and the loss upper-bounds :math:`\ln \mathrm{rank}_{pos}` (hence relates to reciprocal rank), not
    graded NDCG.

    Hyperparameters: ``positive`` in ``{"first_max", "all"}``. No gain. Lists without a relevant valid
    item are excluded by the common reduction rule (:func:`~gradedpr.losses.ranking_utils.reduce_lists`).
    """
    check_choice("positive", positive, POSITIVE_MODES)
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    log_p = masked_log_softmax(clean, mask)
    is_pos = relevant(grades, mask)
    if positive == "all":
        per_list = -masked_logsumexp(log_p, is_pos, dim=-1)
    else:
        lowest = grades.masked_fill(~mask, float("-inf"))
        top = lowest.max(dim=-1, keepdim=True).values
        is_top = is_pos & (grades == top)
        first_top = is_top & (is_top.cumsum(dim=-1) == 1)
        per_list = -(log_p * first_top.to(log_p.dtype)).sum(dim=-1)
    return reduce_lists(per_list, has_relevant(grades, mask), clean)
