"""NeuralNDCG: NDCG with the sorting step replaced by a Sinkhorn-normalised NeuralSort matrix."""

from __future__ import annotations

from torch import Tensor

from gradedpr.losses.ranking_utils import (
    GAINS,
    Gain,
    check_choice,
    check_cutoff,
    check_inputs,
    check_positive,
    empty_loss,
    gains,
    ideal_dcg,
    rank_discounts,
    reduce_lists,
    safe_divide,
    widen_for_gain,
)
from gradedpr.losses.registry import register_loss
from gradedpr.losses.soft_permutation import neural_sort, sinkhorn_scaling


@register_loss("neural_ndcg")
def neural_ndcg_loss(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    temperature: float = 1.0,
    gain: Gain = "exp2",
    k: int | None = None,
    max_iter: int = 50,
    tol: float = 1e-6,
) -> Tensor:
    r"""1 - NeuralNDCG (Pobrotyn & Bialobrzeski 2021, "NeuralNDCG: direct optimisation of a ranking metric
    via differentiable relaxation of sorting", arXiv:2102.07831).

    :math:`\hat P` = NeuralSort matrix of the valid scores (Grover et al. 2019, temperature :math:`\tau`),
    made doubly stochastic by Sinkhorn scaling (at most ``max_iter`` iterations; a list stops when every
    column sum is within ``tol`` of 1). Then

    .. math::
        \ell = 1 - \frac{1}{\mathrm{IDCG@k}} \sum_{r=1}^{\min(k, n)} \frac{(\hat P\, G(y))_r}{\log_2(1 + r)}

    i.e. the expected gain at every rank, discounted and truncated at ``k``. IDCG uses the *same* gain as
    the numerator (as allRank's ``neuralNDCG``; its ``neuralNDCG_transposed`` pairs linear gains with an
    exp2 IDCG). At exactly tied scores the gradient is symmetric in the tied items (see
    :func:`~gradedpr.losses.soft_permutation.abs_diff_row_sums`).
    Padded items occupy the ranks after the valid ones and never mix with them (see
    :func:`~gradedpr.losses.soft_permutation.neural_sort_log`).

    What it approximates: as :math:`\tau \to 0`, :math:`\hat P` tends to the permutation matrix sorting the
    scores, so the loss tends to 1 - NDCG@k of the list (distinct scores).

    Hyperparameters (defaults suit scores already divided by a temperature, e.g. cosine / 0.05):

    * ``temperature`` :math:`\tau` = 1.0. On raw cosine scores use 0.01-0.05 (:math:`\tau = 1` there gives a
      perfect ranking only about 0.75-0.8 NeuralNDCG). Scaling the scores by c is the same as dividing
      :math:`\tau` by c.
    * ``gain``: ``"exp2"`` (default) or ``"linear"``; ``k``: cutoff (``None`` = whole list);
      ``max_iter`` = 50, ``tol`` = 1e-6 (as allRank).

    Implementation: :math:`A_s \mathbf 1` from sorted prefix sums (O(M log M), no O(M^3) matmul). Sinkhorn
    runs in linear space on the two scaling vectors only (two batched mat-vecs per iteration) with a
    hand-written backward on vectors (:func:`~gradedpr.losses.soft_permutation.sinkhorn_scaling`), so
    one M x M matrix is kept for backward instead of one per iteration. Linear space is safe here: every
    row and column of the NeuralSort matrix holds an entry >= 1/n (each item is the row maximum at its own
    rank), so no sum can underflow (``docs/losses.md`` has the measured cost).
    Cost: O(M^2) time and memory per list -- the most expensive loss here -- except without Sinkhorn
    (``max_iter=0``) and with a cutoff ``k``: the rows of NeuralSort are independent softmaxes, so only the
    first ``k`` ranks are computed (O(k M); whole-corpus lists become affordable, identical values). Lists
    with IDCG = 0 are excluded by the common reduction rule; when no list has a relevant item the result is 0
    with a gradient path.
    """
    check_positive("temperature", temperature)
    check_choice("gain", gain, GAINS)
    check_cutoff("k", k)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0; got {max_iter!r}")
    check_positive("tol", tol)
    clean, grades, mask = check_inputs(scores, labels, mask)
    if clean.numel() == 0:
        return empty_loss(clean)
    clean, grades = widen_for_gain(clean, grades, mask, gain)
    g = gains(grades, mask, gain)
    if max_iter == 0 and k is not None:  # rows are independent softmaxes: only the k ranks that count
        p0 = neural_sort(clean, mask, temperature, rows=k)
        expected_gain = (p0 @ g.unsqueeze(-1)).squeeze(-1)  # [B, min(k, M)]
    else:
        p0 = neural_sort(clean, mask, temperature)
        u, v = sinkhorn_scaling(p0, max_iter, tol)
        # expected gain per rank, (diag(u) p0 diag(v)) @ g, without building the scaled matrix
        expected_gain = u * (p0 @ (v * g).unsqueeze(-1)).squeeze(-1)  # [B, ranks]
    dcg = (expected_gain * rank_discounts(expected_gain.shape[-1], clean, k)).sum(dim=-1)
    ideal = ideal_dcg(g, k)
    per_list = 1.0 - safe_divide(dcg, ideal)
    return reduce_lists(per_list, ideal > 0, clean).to(scores.dtype)
