"""ListMLE: Plackett-Luce negative log-likelihood of the ranking by grade."""

from __future__ import annotations

import torch
from torch import Tensor

from gradedpr.losses.ranking_utils import (
    check_choice,
    check_cutoff,
    check_inputs,
    empty_loss,
    has_relevant,
    reduce_lists,
)
from gradedpr.losses.registry import register_loss

TIE_BREAKS = ("random", "index")


def label_order(grades: Tensor, mask: Tensor, tie_break: str, generator: torch.Generator | None = None) -> Tensor:
    """Column order ``[B, M]`` sorting valid items by grade descending, padded items last.

    Ties in grade are broken uniformly at random (``"random"``; from ``generator`` if given) or by column
    index (``"index"``).
    """
    if tie_break == "random":
        device = generator.device if generator is not None else grades.device
        keys = torch.rand(grades.shape, generator=generator, device=device).to(grades.device)
        shuffle = keys.argsort(dim=-1)
    else:
        shuffle = torch.arange(grades.shape[-1], device=grades.device).expand(grades.shape)
    # padded items get a grade below every real one; sorting is stable, so the shuffle breaks the ties
    key = grades.clamp(min=0).masked_fill(~mask, -1.0).gather(-1, shuffle)
    within = torch.sort(key, dim=-1, descending=True, stable=True).indices
    return shuffle.gather(-1, within)


@register_loss("listmle")
def listmle_loss(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    tie_break: str = "random",
    k: int | None = None,
    relevant_only: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""ListMLE (Xia, Liu, Wang, Zhang, Li 2008, "Listwise approach to learning to rank: theory and
    algorithm", ICML): negative Plackett-Luce log-likelihood of the permutation :math:`\pi` that sorts the
    valid items by grade (descending):

    .. math:: \ell = \sum_{r=1}^{n} \Big(\log \sum_{q \ge r} e^{s_{\pi(q)}} - s_{\pi(r)}\Big)

    computed with a reversed ``logcumsumexp`` over the valid items (padded items sort last and are
    excluded). Grades <= 0 are one tie class.

    Hyperparameters:

    * ``tie_break``: ``"random"`` (default, as allRank shuffles before sorting; ``generator`` for
      reproducibility) or ``"index"`` (column order -- deterministic, not permutation invariant).
    * ``k``: only the first ``k`` positions of :math:`\pi` contribute (top-k likelihood, Xia et al. 2009,
      "Statistical consistency of top-k ranking"); ``None`` = all.
    * ``relevant_only``: only positions holding a relevant item (grade > 0) contribute, each still normalised
      over everything below it. With in-batch negatives most of a list is grade 0, and the likelihood of the
      random order among those items is pure noise; this drops it.

    No gain (only the order of grades matters). The per-list loss is a sum (it grows with the list size);
    lists without a relevant valid item are excluded by the common reduction rule. ListMLE is a consistent
    surrogate of the permutation-level 0-1 loss, not a bound on NDCG.
    """
    check_choice("tie_break", tie_break, TIE_BREAKS)
    check_cutoff("k", k)
    check_choice("relevant_only", relevant_only, (True, False))
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    order = label_order(grades, mask, tie_break, generator)
    s_sorted = clean.gather(-1, order)
    valid_sorted = mask.gather(-1, order)
    lowest = torch.finfo(clean.dtype).min
    # log sum_{q >= r} exp(s_q) over valid q: logcumsumexp from the bottom
    tail = s_sorted.masked_fill(~valid_sorted, lowest).flip(-1).logcumsumexp(dim=-1).flip(-1)
    terms = torch.where(valid_sorted, tail - s_sorted, torch.zeros_like(s_sorted))
    keep = valid_sorted
    if k is not None:
        positions = torch.arange(clean.shape[-1], device=clean.device)
        keep = keep & (positions < k)
    if relevant_only:
        keep = keep & (grades.gather(-1, order) > 0)
    per_list = (terms * keep.to(terms.dtype)).sum(dim=-1)
    return reduce_lists(per_list, has_relevant(grades, mask), clean)
