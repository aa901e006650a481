"""NeuralSort soft permutation matrices and Sinkhorn normalisation (for NeuralNDCG).

NeuralSort (Grover, Wang, Zweig, Ermon 2019, "Stochastic optimization of sorting networks via continuous
relaxations", ICLR) relaxes the permutation matrix that sorts ``s`` descending: row ``r`` (rank ``r``,
1-based) of

.. math:: \\hat P[r, :] = \\mathrm{softmax}\\big(((n + 1 - 2r)\\, s - A_s \\mathbf 1) / \\tau\\big),
    \\qquad (A_s \\mathbf 1)_j = \\sum_k |s_j - s_k|

is a distribution over items. ``A_s 1`` is a vector of row sums, computed here in O(n log n) from sorted
prefix sums -- no n x n x n matmul and no n x n matrix of absolute differences.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def abs_diff_row_sums(scores: Tensor, mask: Tensor) -> Tensor:
    """``[B, M]``: :math:`\\sum_{k \\text{ valid}} |s_j - s_k|` for every valid ``j`` (0 on padded slots).

    Sort the valid scores ascending; for the item at 0-based position ``p`` among ``n`` valid items,
    ``sum_k |s_p - s_k| = p s_p - sum_{q<p} s_q + sum_{q>p} s_q - (n - 1 - p) s_p``.

    The gradient is the one of ``torch.abs`` term by term, with ``d|x|/dx = 0`` at ``x = 0``: tied scores
    contribute nothing to each other's gradient, so tied items are treated alike whatever their column
    order (one-sided derivatives in sort order would not be; see :class:`_AbsDiffRowSums`).
    """
    out: Tensor = _AbsDiffRowSums.apply(scores, mask)
    return out


def _tie_groups(scores: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Ascending sort of the valid scores (padding last): ``order``, and per sorted position the number of
    valid items with a smaller score (``below``), with a smaller or equal one (``through``), and ``n``."""
    key = scores.masked_fill(~mask, float("inf"))
    order = key.argsort(dim=-1, stable=True)
    sorted_key = key.gather(-1, order).contiguous()
    n = mask.sum(dim=-1, keepdim=True)
    below = torch.searchsorted(sorted_key, sorted_key, side="left")
    through = torch.searchsorted(sorted_key, sorted_key, side="right").clamp(max=n)
    return order, below, through, n


def _abs_diff_row_sums_value(scores: Tensor, mask: Tensor) -> Tensor:
    """The value: ``below * s - (sum of smaller) + (sum of greater) - (#greater) * s`` in sorted order.

    Every member of a tie group reads its sums at the same positions (the group's first and last), so tied
    items get bit-identical values; without ties this is ``p s_p - sum_{q<p} + sum_{q>p} - (n-1-p) s_p``.
    """
    order, below, through, n = _tie_groups(scores, mask)
    valid_sorted = mask.gather(-1, order).to(scores.dtype)
    v = scores.gather(-1, order) * valid_sorted
    cumulative = v.cumsum(dim=-1)
    before = cumulative - v  # before[p] = sum of v[q] for q < p
    after = cumulative[..., -1:] - cumulative  # after[p] = sum of v[q] for q > p
    smaller = before.gather(-1, below.clamp(max=scores.shape[-1] - 1))
    greater = after.gather(-1, (through - 1).clamp(min=0))
    count_greater = n.to(scores.dtype) - through.to(scores.dtype)
    sums_sorted = below.to(scores.dtype) * v - smaller + greater - count_greater * v
    sums_sorted = sums_sorted * valid_sorted
    return torch.zeros_like(sums_sorted).scatter(-1, order, sums_sorted)


def _abs_diff_row_sums_grad(scores: Tensor, mask: Tensor, grad_out: Tensor) -> Tensor:
    """``d/ds_j`` of ``sum_i g_i sum_k |s_i - s_k|`` over valid items, with ``sign(0) = 0``:
    ``g_j (#smaller - #greater) + sum_{s_i < s_j} g_i - sum_{s_i > s_j} g_i``."""
    order, below, through, n = _tie_groups(scores, mask)
    valid = mask.to(scores.dtype)
    g = (grad_out * valid).gather(-1, order)
    prefix = torch.nn.functional.pad(g.cumsum(dim=-1), (1, 0))  # prefix[i] = sum of the first i
    sum_smaller = prefix.gather(-1, below)
    sum_greater = prefix[..., -1:] - prefix.gather(-1, through)
    count = (below - (n - through)).to(scores.dtype)
    grad_sorted = g * count + sum_smaller - sum_greater
    return torch.zeros_like(grad_sorted).scatter(-1, order, grad_sorted) * valid


class _AbsDiffRowSums(torch.autograd.Function):
    """Row sums of absolute differences: the sorted-prefix-sum value, a tie-symmetric backward."""

    @staticmethod
    def forward(ctx: Any, scores: Tensor, mask: Tensor) -> Tensor:
        ctx.save_for_backward(scores, mask)
        return _abs_diff_row_sums_value(scores, mask)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        scores, mask = ctx.saved_tensors
        return _abs_diff_row_sums_grad(scores, mask, grad_out), None


def neural_sort(scores: Tensor, mask: Tensor, temperature: float, rows: int | None = None) -> Tensor:
    """NeuralSort matrix ``[B, M, M]`` (rows = ranks, columns = items), padding-aware; rows sum to 1.
    ``rows``: only the first ``rows`` ranks (``[B, rows, M]``; each row is its own softmax, so they equal the
    full matrix's first rows).

    For a list with ``n`` valid items the top-left rank x item block is NeuralSort of the valid items alone;
    ranks ``n+1..M`` map uniformly onto the padded items; the cross blocks are exactly 0. So padding
    neither changes the valid block nor receives probability, and the matrix is square.

    Every valid item ``j`` is the row maximum of the row of its own rank (a property of NeuralSort), so
    every row and column holds an entry >= 1/n: Sinkhorn scaling in linear space cannot divide by 0.
    """
    size = scores.shape[-1]
    n = mask.sum(dim=-1, keepdim=True)  # [B, 1]
    ranks = torch.arange(1, min(rows or size, size) + 1, device=scores.device)
    coef = (n.to(scores.dtype) + 1.0 - 2.0 * ranks.to(scores.dtype)).unsqueeze(-1)  # [B, M(rank), 1]
    logits = (coef * scores.unsqueeze(-2) - abs_diff_row_sums(scores, mask).unsqueeze(-2)) / temperature
    real_rank = (ranks.unsqueeze(0) <= n).unsqueeze(-1)  # [B, M(rank), 1]
    item = mask.unsqueeze(-2)  # [B, 1, M(item)]
    logits = logits.masked_fill(real_rank != item, torch.finfo(scores.dtype).min)
    logits = logits.masked_fill(~real_rank & ~item, 0.0)
    return torch.softmax(logits, dim=-1)


def _bvm(vec: Tensor, mat: Tensor) -> Tensor:
    """Batched ``vec^T @ mat``: ``[B, M] x [B, M, M] -> [B, M]``."""
    return (vec.unsqueeze(-2) @ mat).squeeze(-2)


def _bmv(mat: Tensor, vec: Tensor) -> Tensor:
    """Batched ``mat @ vec``: ``[B, M, M] x [B, M] -> [B, M]``."""
    return (mat @ vec.unsqueeze(-1)).squeeze(-1)


class _SinkhornScaling(torch.autograd.Function):
    """Sinkhorn-Knopp scaling vectors with a hand-written backward (see :func:`sinkhorn_scaling`).

    Forward, for every list not yet converged: ``a = p0^T u``; stop the list if ``max |v * a - 1| < tol``
    (column sums of ``diag(u) p0 diag(v)``); else ``v <- 1 / a`` (normalise columns) and
    ``u <- 1 / (p0 v)`` (normalise rows). Backward runs the same recurrence in reverse on vectors only and
    collects the gradient for ``p0`` -- a sum of two outer products per iteration -- as two batched
    matmuls with inner dimension = number of iterations, instead of one ``M x M`` tensor per iteration.
    """

    @staticmethod
    def forward(ctx: Any, p0: Tensor, max_iter: int, tol: float) -> tuple[Tensor, Tensor]:
        tiny = torch.finfo(p0.dtype).tiny
        u = torch.ones(p0.shape[:-1], dtype=p0.dtype, device=p0.device)
        v = torch.ones_like(u)
        done = torch.zeros((*p0.shape[:-2], 1), dtype=torch.bool, device=p0.device)
        u_prev: list[Tensor] = []
        v_next: list[Tensor] = []
        u_next: list[Tensor] = []
        active: list[Tensor] = []
        for _ in range(max_iter):
            a = _bvm(u, p0)
            done = done | ((v * a - 1.0).abs().amax(dim=-1, keepdim=True) < tol)
            if bool(done.all()):
                break
            v_new = torch.where(done, v, 1.0 / a.clamp(min=tiny))
            u_new = torch.where(done, u, 1.0 / _bmv(p0, v_new).clamp(min=tiny))
            u_prev.append(u)
            v_next.append(v_new)
            u_next.append(u_new)
            active.append((~done).to(p0.dtype))
            u, v = u_new, v_new
        ctx.save_for_backward(p0, *u_prev, *v_next, *u_next, *active)
        ctx.steps = len(active)
        return u, v

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_u: Tensor, grad_v: Tensor) -> tuple[Tensor | None, None, None]:
        p0, *saved = ctx.saved_tensors
        steps = ctx.steps
        if steps == 0:
            return torch.zeros_like(p0), None, None
        u_prev, v_next, u_next, active = (saved[i * steps : (i + 1) * steps] for i in range(4))
        gu, gv = grad_u, grad_v
        left_b, right_v, left_u, right_a = [], [], [], []
        for t in reversed(range(steps)):
            m = active[t]
            gb = -m * gu * u_next[t] ** 2  # through u_new = 1 / b, b = p0 v_new
            gv_total = gv + _bvm(gb, p0)
            ga = -m * gv_total * v_next[t] ** 2  # through v_new = 1 / a, a = p0^T u
            gu = m * _bmv(p0, ga) + (1.0 - m) * gu
            gv = (1.0 - m) * gv_total
            left_b.append(gb)
            right_v.append(v_next[t])
            left_u.append(u_prev[t])
            right_a.append(ga)
        # d p0 = sum_t gb_t v_t^T + u_t ga_t^T, as [B, M, T] @ [B, T, M]
        grad_p0 = torch.stack(left_b, dim=-1) @ torch.stack(right_v, dim=-2)
        grad_p0 = grad_p0 + torch.stack(left_u, dim=-1) @ torch.stack(right_a, dim=-2)
        return grad_p0, None, None


def sinkhorn_scaling(p0: Tensor, max_iter: int = 50, tol: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Sinkhorn-Knopp scaling of a row-stochastic ``p0`` ``[B, M, M]``: vectors ``u, v`` ``[B, M]`` such
    that ``diag(u) p0 diag(v)`` is (close to) doubly stochastic.

    Each iteration normalises the columns, then the rows -- the classic alternating scaling -- but only on
    the two scaling vectors (two batched mat-vecs per iteration), never on the ``M x M`` matrix itself;
    the backward pass is hand-written on vectors too (checked against autograd by ``gradcheck`` in the
    tests), so only ``p0`` is kept for backward. Convergence is decided per list: a list whose column sums
    are all within ``tol`` of 1 (checked before each iteration) is frozen, so one list's value and
    gradient never depend on the other lists of the batch. At most ``max_iter`` iterations.
    """
    u, v = _SinkhornScaling.apply(p0, max_iter, tol)
    return u, v


def sinkhorn(p0: Tensor, max_iter: int = 50, tol: float = 1e-6) -> Tensor:
    """The Sinkhorn-normalised matrix ``diag(u) p0 diag(v)`` (see :func:`sinkhorn_scaling`)."""
    u, v = sinkhorn_scaling(p0, max_iter, tol)
    return u.unsqueeze(-1) * p0 * v.unsqueeze(-2)
