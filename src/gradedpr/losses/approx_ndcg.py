"""ApproxNDCG: NDCG with every rank replaced by a sigmoid-smoothed rank."""

from __future__ import annotations

import torch
from torch import Tensor

from gradedpr.losses.ranking_utils import (
    GAINS,
    Gain,
    check_choice,
    check_cutoff,
    check_inputs,
    check_positive,
    discounts,
    empty_loss,
    gains,
    ideal_dcg,
    reduce_lists,
    safe_divide,
    widen_for_gain,
)
from gradedpr.losses.registry import register_loss


def relevant_ranks(scores: Tensor, mask: Tensor, picked: Tensor, temperature: float) -> Tensor:
    r"""Smooth 1-based ranks ``[B, J]`` of the items at positions ``picked``:
    :math:`1 + \sum_{j \ne i, j \text{ valid}} \sigma((s_j - s_i)/T)`.

    The diagonal term :math:`\sigma(0) = 1/2` is included and compensated by starting from 1/2, which avoids
    building an identity mask. O(J M) memory per list. Values at padded positions are meaningless.
    """
    chosen = torch.gather(scores, -1, picked)
    pairwise = torch.sigmoid((scores.unsqueeze(-2) - chosen.unsqueeze(-1)) / temperature)  # [b, i in J, j]
    return 0.5 + (pairwise * mask.unsqueeze(-2).to(pairwise.dtype)).sum(dim=-1)


@register_loss("approx_ndcg")
def approx_ndcg_loss(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    temperature: float = 1.0,
    gain: Gain = "exp2",
    k: int | None = None,
    cutoff_temperature: float = 0.5,
) -> Tensor:
    r"""1 - ApproxNDCG (Qin, Liu, Li 2010, "A general approximation framework for direct optimization of
    information retrieval measures", Information Retrieval 13(4)).

    .. math::
        \hat r_i = 1 + \sum_{j \ne i} \sigma\Big(\frac{s_j - s_i}{T}\Big), \qquad
        \ell = 1 - \frac{1}{\mathrm{IDCG}} \sum_i \frac{G(y_i)\, c_i}{\log_2(1 + \hat r_i)}

    with sums over valid items only. Without a cutoff :math:`c_i = 1`. With ``k``, the top-k indicator is
    smoothed too: :math:`c_i = \sigma((k + 1/2 - \hat r_i) / T_k)` (in the spirit of Rax's ``approx_t12n``
    and Bruch, Han, Bendersky, Najork 2020, "A stochastic treatment of learning to rank scoring functions",
    WSDM); IDCG is then the exact ideal DCG@k of the list. "1 -" keeps the loss near [0, 1]: 0 for a perfect
    ranking as :math:`T \to 0` (the smoothed ranks can make it slightly negative in corner cases).

    What it approximates: as :math:`T \to 0` (and :math:`T_k \to 0`) the smoothed ranks become the exact
    ranks for distinct scores, and the loss tends to 1 - NDCG(@k) of the list.

    Hyperparameters (defaults suit scores already divided by a temperature, e.g. cosine / 0.05, which span
    about [-20, 20]):

    * ``temperature`` T = 1.0 (the allRank alpha is 1/T). **On raw cosine scores use T ~ 0.01-0.02**: with
      T = 1 on [-1, 1] scores every smoothed rank sits near the middle and a perfect ranking scores only
      about 0.5 ApproxNDCG.
    * ``gain``: ``"exp2"`` (default, :math:`2^y - 1`) or ``"linear"``; the same gain for DCG and IDCG.
    * ``k``: NDCG cutoff (``None`` = the whole list); ``cutoff_temperature`` :math:`T_k` = 0.5, in rank
      units.

    Lists with IDCG = 0 (no relevant valid item) are excluded by the common reduction rule.
    """
    check_positive("temperature", temperature)
    check_positive("cutoff_temperature", cutoff_temperature)
    check_choice("gain", gain, GAINS)
    check_cutoff("k", k)
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    clean, grades = widen_for_gain(clean, grades, mask, gain)
    g = gains(grades, mask, gain)
    # Only items with gain contribute to the DCG, so smoothed ranks are needed for them alone: [B, J, M]
    # pairs instead of [B, M, M] (a list of a whole corpus with a few dozen judged documents stays cheap).
    relevant = mask & (g > 0)
    width = max(1, int(relevant.sum(dim=-1).max()))
    picked = torch.argsort(relevant.to(torch.int8), dim=-1, descending=True, stable=True)[..., :width]
    ranks = relevant_ranks(clean, mask, picked, temperature)
    contrib = torch.gather(g, -1, picked) * discounts(ranks)
    if k is not None:
        contrib = contrib * torch.sigmoid((k + 0.5 - ranks) / cutoff_temperature)
    keep = torch.gather(relevant, -1, picked)
    contrib = torch.where(keep, contrib, torch.zeros_like(contrib))
    ideal = ideal_dcg(g, k)
    per_list = 1.0 - safe_divide(contrib.sum(dim=-1), ideal)
    return reduce_lists(per_list, ideal > 0, clean).to(scores.dtype)
