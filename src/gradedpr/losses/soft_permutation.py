"""NeuralSort soft permutation matrices and log-space Sinkhorn normalisation (for NeuralNDCG).

NeuralSort (Grover, Wang, Zweig, Ermon 2019, "Stochastic optimization of sorting networks via continuous
relaxations", ICLR) relaxes the permutation matrix that sorts ``s`` descending: row ``r`` (rank ``r``,
1-based) of

.. math:: \\hat P[r, :] = \\mathrm{softmax}\\big(((n + 1 - 2r)\\, s - A_s \\mathbf 1) / \\tau\\big),
    \\qquad (A_s \\mathbf 1)_j = \\sum_k |s_j - s_k|

is a distribution over items. ``A_s 1`` is a vector of row sums, computed here in O(n log n) from sorted
prefix sums -- no n x n x n matmul and no n x n matrix of absolute differences.
"""

from __future__ import annotations

import torch
from torch import Tensor


def abs_diff_row_sums(scores: Tensor, mask: Tensor) -> Tensor:
    """``[B, M]``: :math:`\\sum_{k \\text{ valid}} |s_j - s_k|` for every valid ``j`` (0 on padded slots).

    Sort the valid scores ascending; for the item at 0-based position ``p`` among ``n`` valid items,
    ``sum_k |s_p - s_k| = p s_p - sum_{q<p} s_q + sum_{q>p} s_q - (n - 1 - p) s_p``.
    """
    highest = torch.finfo(scores.dtype).max
    order = scores.detach().masked_fill(~mask, highest).argsort(dim=-1, stable=True)
    valid_sorted = mask.gather(-1, order)
    v = scores.gather(-1, order) * valid_sorted.to(scores.dtype)
    n = valid_sorted.sum(dim=-1, keepdim=True).to(scores.dtype)
    pos = torch.arange(scores.shape[-1], device=scores.device, dtype=scores.dtype)
    through = v.cumsum(dim=-1)
    before = through - v
    after = through[..., -1:] - through
    sums_sorted = pos * v - before + after - (n - 1.0 - pos) * v
    sums_sorted = sums_sorted * valid_sorted.to(scores.dtype)
    return torch.zeros_like(sums_sorted).scatter(-1, order, sums_sorted)


def neural_sort_log(scores: Tensor, mask: Tensor, temperature: float) -> Tensor:
    """Log of the NeuralSort matrix ``[B, M, M]`` (rows = ranks, columns = items), padding-aware.

    For a list with ``n`` valid items the top-left rank x item block is NeuralSort of the valid items alone;
    ranks ``n+1..M`` map uniformly onto the padded items; the cross blocks are ~0 (a very negative log).
    So padding neither changes the valid block nor receives probability, and the matrix is square and
    doubly stochastic after :func:`sinkhorn_log`.
    """
    size = scores.shape[-1]
    n = mask.sum(dim=-1, keepdim=True)  # [B, 1]
    ranks = torch.arange(1, size + 1, device=scores.device)
    coef = (n.to(scores.dtype) + 1.0 - 2.0 * ranks.to(scores.dtype)).unsqueeze(-1)  # [B, M(rank), 1]
    logits = (coef * scores.unsqueeze(-2) - abs_diff_row_sums(scores, mask).unsqueeze(-2)) / temperature
    real_rank = (ranks.unsqueeze(0) <= n).unsqueeze(-1)  # [B, M(rank), 1]
    item = mask.unsqueeze(-2)  # [B, 1, M(item)]
    lowest = torch.finfo(scores.dtype).min
    logits = torch.where(real_rank & item, logits, torch.full_like(logits, lowest))
    logits = torch.where(~real_rank & ~item, torch.zeros_like(logits), logits)
    return torch.log_softmax(logits, dim=-1)


def sinkhorn_log(log_p: Tensor, max_iter: int = 50, tol: float = 1e-6) -> Tensor:
    """Alternate column and row normalisation of ``exp(log_p)`` in log space (rows are already normalised).

    Convergence is decided per list: before each iteration a list whose column sums are all within
    ``tol`` of 1 (checked as ``|log colsum| < tol``) is frozen, so the value and gradient of one list never
    depend on the other lists of the batch. At most ``max_iter`` iterations.
    """
    done = torch.zeros(log_p.shape[:-2], dtype=torch.bool, device=log_p.device)
    for _ in range(max_iter):
        col = torch.logsumexp(log_p, dim=-2, keepdim=True)
        done = done | (col.detach().abs().amax(dim=(-2, -1)) < tol)
        if bool(done.all()):
            break
        step = log_p - col
        step = step - torch.logsumexp(step, dim=-1, keepdim=True)
        log_p = torch.where(done[..., None, None], log_p, step)
    return log_p
