"""LambdaLoss: pairwise logistic loss weighted by metric-derived lambda weights."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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
    predicted_ranks,
    reduce_lists,
    safe_divide,
    widen_for_gain,
)
from gradedpr.losses.registry import register_loss

WEIGHTINGS = ("ndcg_loss1", "ndcg_loss2", "ndcg_loss2pp", "lambdarank", "ranknet")


def lambda_weights(gain_i: Tensor, rank_i: Tensor, gain_j: Tensor, rank_j: Tensor, weighting: str, k: int | None,
                   mu: float) -> Tensor:
    """Pair weights ``[B, I, J]`` of a LambdaLoss scheme between items ``i`` (``gain_i``, ``rank_i`` ``[B, I]``)
    and items ``j`` (``[B, J]``); no gradient; ranks are 1-based predicted ranks.

    ``G`` are gains divided by IDCG, ``D_r = log2(1 + r)``; with ``k``, ``1/D_r`` is 0 beyond rank ``k``.

    * ``ndcg_loss1``: ``G_i / D_i`` (per higher-graded item ``i``);
    * ``ndcg_loss2``: ``|1/D_{|r_i-r_j|} - 1/D_{|r_i-r_j|+1}| * |G_i - G_j|``;
    * ``lambdarank``: ``|1/D_i - 1/D_j| * |G_i - G_j|`` (the NDCG(@k) change of swapping i and j);
    * ``ndcg_loss2pp``: ``mu * ndcg_loss2 + lambdarank``;
    * ``ranknet``: 1.
    """
    shape = (*rank_i.shape, rank_j.shape[-1])
    if weighting == "ranknet":
        return torch.ones(shape, dtype=rank_i.dtype, device=rank_i.device)

    def inverse_discount(ranks: Tensor) -> Tensor:
        inv = discounts(ranks)
        return inv.masked_fill(ranks > k, 0.0) if k is not None else inv

    inv_i, inv_j = inverse_discount(rank_i), inverse_discount(rank_j)
    gain_gap = (gain_i.unsqueeze(-1) - gain_j.unsqueeze(-2)).abs()
    if weighting == "ndcg_loss1":
        return (gain_i * inv_i).unsqueeze(-1).expand(shape)
    lambdarank = (inv_i.unsqueeze(-1) - inv_j.unsqueeze(-2)).abs() * gain_gap
    if weighting == "lambdarank":
        return lambdarank
    gap = (rank_i.unsqueeze(-1) - rank_j.unsqueeze(-2)).abs().clamp(min=1.0)
    loss2 = (discounts(gap) - discounts(gap + 1.0)).abs() * gain_gap
    if weighting == "ndcg_loss2":
        return loss2
    return mu * loss2 + lambdarank


def higher_items(grades: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Column indices ``[B, I]`` of the items that can be the higher-graded side of a pair (valid, clamped grade
    above the list's lowest), and which of those ``I`` slots are real. ``I`` is the most such items in a list:
    with whole-corpus lists, the judged documents, so the pairs are ``judged x corpus``, not ``corpus^2``."""
    grade = grades.clamp(min=0)
    lowest = grade.masked_fill(~mask, torch.iinfo(grade.dtype).max if not grade.is_floating_point() else math.inf)
    higher = mask & (grade > lowest.min(dim=-1, keepdim=True).values)
    count = higher.sum(dim=-1)
    width = max(int(count.max()), 1) if count.numel() else 1
    order = torch.argsort((~higher).to(torch.int8), dim=-1, stable=True)[..., :width]
    return order, torch.arange(width, device=grades.device) < count.unsqueeze(-1)


@register_loss("lambdaloss")
def lambdaloss_loss(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    weighting: str = "ndcg_loss2pp",
    gain: Gain = "exp2",
    k: int | None = None,
    sigma: float = 1.0,
    mu: float = 10.0,
) -> Tensor:
    r"""LambdaLoss (Wang, Li, Golbandi, Bendersky, Najork 2018, "The LambdaLoss framework for ranking metric
    optimization", CIKM; top-k: Jagerman, Qin, Wang, Bendersky, Najork 2022, "On optimizing top-K metrics
    for neural ranking models", SIGIR).

    Items are ranked by the current scores (ties by column, padded items last). For valid pairs with
    :math:`y_i > y_j`:

    .. math:: \ell = -\sum_{y_i > y_j} w_{ij} \log_2 \sigma(\sigma_s (s_i - s_j))

    summed per list (log-sigmoid form, stable for any score gap), then averaged over lists with at least
    one such pair. Weights (see :func:`lambda_weights`), with :math:`G = \text{gain} / \mathrm{IDCG}`:
    ``ndcg_loss1``, ``ndcg_loss2``, ``ndcg_loss2pp`` (default; :math:`\mu` = ``mu`` = 10 as allRank),
    ``lambdarank``, ``ranknet`` (w = 1). NDCG-Loss2 and NDCG-Loss2++ are bounds on the NDCG cost
    (Wang et al. prove NDCG-Loss2 is a bound on 1 - NDCG within their EM framework); LambdaRank's weights
    are the NDCG change of swapping the pair.

    Top-k (``k``): IDCG is IDCG@k, :math:`1/D_r` is 0 beyond rank k (so ``lambdarank`` weights are the
    NDCG@k swap change), and only pairs with at least one item within the predicted top k contribute (a
    swap of two items both below k cannot change NDCG@k). This is the truncation argument of the
    NDCG@k variants; it does not add the extra rescaling of cross-boundary pairs of Jagerman et al.'s
    LambdaLoss@K.

    Cost: only items graded above their list's lowest grade can be the higher side of a pair, so the pairs are
    computed for those ``I`` items against all ``M`` (``[B, I, M]``, not ``[B, M, M]``): on a whole-corpus list
    of 3,633 documents with a few dozen judged, about a hundredth of the memory, with identical values.

    Hyperparameters: ``weighting``; ``gain`` ``"exp2"`` (default) or ``"linear"``; ``k`` (``None``);
    ``sigma`` (default 1; scores here are already cosine / temperature, so 1 is the natural scale);
    ``mu`` (10, only for ``ndcg_loss2pp``). Weights carry no gradient (ranks are discrete).
    """
    check_choice("weighting", weighting, WEIGHTINGS)
    check_choice("gain", gain, GAINS)
    check_cutoff("k", k)
    check_positive("sigma", sigma)
    check_positive("mu", mu)
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    clean, grades = widen_for_gain(clean, grades, mask, gain)
    g = gains(grades, mask, gain)
    ideal = ideal_dcg(g, k)
    ranks = predicted_ranks(clean, mask)
    # only pairs whose higher item has a grade above the list's lowest exist: gather those items (identical sums)
    rows, real = higher_items(grades, mask)
    grade = grades.clamp(min=0)
    pairs = real.unsqueeze(-1) & mask.unsqueeze(-2) & (grade.gather(-1, rows).unsqueeze(-1) > grade.unsqueeze(-2))
    rank_i = ranks.gather(-1, rows)
    if k is not None:
        pairs = pairs & ((rank_i <= k).unsqueeze(-1) | (ranks <= k).unsqueeze(-2))
    normalised = safe_divide(g, ideal.unsqueeze(-1))
    weights = lambda_weights(normalised.gather(-1, rows), rank_i, normalised, ranks, weighting, k, mu)
    diff = clean.gather(-1, rows).unsqueeze(-1) - clean.unsqueeze(-2)  # [b, i, j] = s_i - s_j
    pair_loss = F.softplus(-sigma * diff) / math.log(2.0)  # = -log2 sigmoid(sigma * diff)
    per_pair = torch.where(pairs, weights * pair_loss, torch.zeros_like(pair_loss))
    per_list = per_pair.sum(dim=(-2, -1))
    return reduce_lists(per_list, pairs.any(dim=-1).any(dim=-1), clean).to(scores.dtype)
