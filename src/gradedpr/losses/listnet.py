"""ListNet: cross-entropy between a target distribution built from grades and softmax(scores)."""

from __future__ import annotations

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
    masked_softmax,
    reduce_lists,
    safe_divide,
    widen_for_gain,
)
from gradedpr.losses.registry import register_loss

TARGETS = ("gain", "softmax")


@register_loss("listnet")
def listnet_loss(scores: Tensor, labels: Tensor, mask: Tensor, *, gain: Gain = "exp2", target: str = "gain") -> Tensor:
    r"""ListNet top-one cross-entropy (Cao et al. 2007, "Learning to rank: from pairwise approach to
    listwise approach", ICML).

    .. math:: \ell = -\sum_{i \text{ valid}} t_i \log \mathrm{softmax}(s)_i

    Target ``t`` over the valid items of a list:

    * ``target="gain"`` (default, TF-Ranking style): normalised gains :math:`t_i = G(y_i) / \sum_j G(y_j)`,
      with ``gain="exp2"`` (default, :math:`2^y - 1`) or ``"linear"`` (:math:`y`, as trec_eval). Items of
      grade 0 get zero target mass.
    * ``target="softmax"`` (allRank style): :math:`t = \mathrm{softmax}(y)` over valid items (``gain`` is
      then unused); grade-0 items keep some target mass.

    What it approximates: the cross-entropy between the two "top-one" distributions; it is minimised when
    softmax(s) equals the target, i.e. scores ordered by grade with log-odds equal to log-gain ratios. It
    is convex in the scores; for binary grades it upper-bounds -log NDCG and -log MRR (Bruch et al. 2019,
    "An analysis of the softmax cross entropy loss for learning-to-rank with binary relevance", ICTIR).
    Lists whose valid items have no gain (no relevant item) are excluded by the common reduction rule.
    The loss includes the target entropy, so its minimum is not 0.
    """
    check_choice("gain", gain, GAINS)
    check_choice("target", target, TARGETS)
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    clean, grades = widen_for_gain(clean, grades, mask, gain if target == "gain" else "linear")
    if target == "gain":
        g = gains(grades, mask, gain)
        t = safe_divide(g, g.sum(dim=-1, keepdim=True))
    else:
        t = masked_softmax(grades, mask)
    per_list = -(t * masked_log_softmax(clean, mask)).sum(dim=-1)
    return reduce_lists(per_list, has_relevant(grades, mask), clean).to(scores.dtype)
