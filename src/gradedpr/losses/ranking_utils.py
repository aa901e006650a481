"""Helpers shared by every loss: input checks, gains, discounts, masked softmax, ideal DCG, reduction.

Conventions used by all losses in :mod:`gradedpr.losses`:

* ``scores``: float tensor ``[B, M]`` (one row per query, one column per candidate).
* ``labels``: tensor ``[B, M]`` of grades (any integer scale; floats are accepted too). Grades ``<= 0``
  are "not relevant": they give zero gain, as negative labels do in trec_eval.
* ``mask``: bool tensor ``[B, M]``; ``True`` marks a real candidate, ``False`` padding or a masked duplicate.
  Padded slots may hold any score (huge values, inf, NaN): :func:`check_inputs` replaces them by 0 before any
  arithmetic, so they never reach the loss value or its gradient.

Reduction rule (one for all losses, :func:`reduce_lists`): the loss is the mean of the per-list losses over
the lists that are *valid* -- by default lists with at least one relevant valid item; pairwise losses also
require at least one usable pair. Other lists contribute nothing and do not dilute the mean. When no list
is valid the result is ``0`` with a gradient path to ``scores`` (never NaN, ``backward()`` still works).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import torch
from torch import Tensor

from gradedpr.errors import DataError

Gain = Literal["linear", "exp2", "binary"]
"""How a grade becomes a gain: ``g``, ``2^g - 1``, or ``1`` for any ``g > 0``."""

GAINS: tuple[Gain, ...] = ("linear", "exp2", "binary")
"""Gain functions: ``linear`` = the grade itself (trec_eval), ``exp2`` = ``2**grade - 1`` (LTR libraries),
``binary`` = 1 for any grade > 0 (turns a gain-based loss into its binary-relevance form, for ablations;
pairwise losses still form their pairs from the grades)."""


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in options)}; got {value!r}")


def check_positive(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number > 0."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")


def check_cutoff(name: str, value: int | None) -> None:
    """Raise ``ValueError`` unless ``value`` is ``None`` (no cutoff) or an integer >= 1."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be None or an integer >= 1; got {value!r}")


def check_inputs(scores: Tensor, labels: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Validate shapes/dtypes and return ``(clean_scores, float_labels, mask)``.

    ``clean_scores`` has padded slots replaced by 0 (their gradient is exactly 0); ``float_labels`` are the
    labels in the score dtype with padded slots set to 0. Raises ``ValueError`` on bad shapes or dtypes.
    """
    if not isinstance(scores, Tensor) or not isinstance(labels, Tensor) or not isinstance(mask, Tensor):
        raise ValueError("scores, labels and mask must be torch tensors")
    if scores.dim() != 2:
        raise ValueError(f"scores must have shape [B, M]; got {tuple(scores.shape)}")
    if labels.shape != scores.shape or mask.shape != scores.shape:
        raise ValueError(
            "scores, labels and mask must have the same shape [B, M]; got "
            f"{tuple(scores.shape)}, {tuple(labels.shape)}, {tuple(mask.shape)}"
        )
    if not scores.is_floating_point():
        raise ValueError(f"scores must be a floating-point tensor; got {scores.dtype}")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor (True = valid candidate); got {mask.dtype}")
    if labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"labels must hold integer grades; got {labels.dtype}")
    clean = scores.masked_fill(~mask, 0.0)
    float_labels = labels.to(scores.dtype).masked_fill(~mask, 0.0)
    return clean, float_labels, mask


def _exp2_limit(dtype: torch.dtype, size: int) -> float:
    """The largest grade whose exp2 gain, summed over ``size`` items (with room to spare), fits ``dtype``."""
    return math.log2(torch.finfo(dtype).max) - math.log2(max(size, 1)) - 2.0


def widen_for_gain(scores: Tensor, grades: Tensor, mask: Tensor, gain: Gain) -> tuple[Tensor, Tensor]:
    """``(scores, grades)`` in float64 when ``gain="exp2"`` of the largest valid grade would overflow the
    score dtype (float32: grades from about 120 up), else the very same tensors.

    A loss calls this right after :func:`check_inputs` and computes in the returned dtype, so a list of
    grades like 0..200 gets finite, exact-as-float64 values instead of ``inf - inf = NaN``, while ordinary
    grades keep the float32 computation unchanged. Grades whose gain does not fit float64 either (about
    1000 and more) raise :class:`~gradedpr.errors.DataError` advising ``gain=linear``.
    """
    check_choice("gain", gain, GAINS)
    if gain != "exp2" or grades.numel() == 0:
        return scores, grades
    top = float(grades.masked_fill(~mask, 0.0).max())
    size = grades.shape[-1]
    if top <= _exp2_limit(scores.dtype, size):
        return scores, grades
    if top > _exp2_limit(torch.float64, size):
        raise DataError(
            f"relevance grade {top:g} is too large for gain='exp2' (2**{top:g} overflows); use the trec_eval "
            "gain instead: gain=linear (loss.kwargs.gain=linear), or grades below 1000"
        )
    return scores.double(), grades.double()


def gains(labels: Tensor, mask: Tensor, gain: Gain) -> Tensor:
    """Per-item gain: ``linear`` -> ``max(y, 0)``; ``exp2`` -> ``2**max(y, 0) - 1``; ``binary`` -> ``1[y > 0]``;
    padded slots -> 0."""
    check_choice("gain", gain, GAINS)
    grade = labels.clamp(min=0)
    if gain == "binary":
        out = (grade > 0).to(grade.dtype if grade.is_floating_point() else torch.float32)
    else:
        out = grade if gain == "linear" else torch.exp2(grade) - 1.0
    return out.masked_fill(~mask, 0.0)


def relevant(labels: Tensor, mask: Tensor) -> Tensor:
    """Bool ``[B, M]``: valid items with a grade > 0."""
    return mask & (labels > 0)


def has_relevant(labels: Tensor, mask: Tensor) -> Tensor:
    """Bool ``[B]``: lists with at least one relevant valid item (the default validity of a list)."""
    return relevant(labels, mask).any(dim=-1)


def discounts(ranks: Tensor) -> Tensor:
    """``1 / log2(1 + rank)`` for 1-based (possibly fractional) ranks."""
    return 1.0 / torch.log2(1.0 + ranks)


def rank_discounts(size: int, like: Tensor, k: int | None = None) -> Tensor:
    """Discounts of ranks ``1..size`` (shape ``[size]``); ranks beyond ``k`` get 0 when ``k`` is given."""
    ranks = torch.arange(1, size + 1, device=like.device, dtype=like.dtype)
    disc = discounts(ranks)
    if k is not None:
        disc = disc.masked_fill(ranks > k, 0.0)
    return disc


def ideal_dcg(item_gains: Tensor, k: int | None = None) -> Tensor:
    """Ideal DCG ``[B]`` of the candidate list: gains sorted descending, discounted, truncated at ``k``.

    ``item_gains`` must already be 0 on padded slots (as returned by :func:`gains`). Note: unlike trec_eval,
    the ideal ranking is built from the candidates in the list only.
    """
    ordered = torch.sort(item_gains, dim=-1, descending=True).values
    return (ordered * rank_discounts(item_gains.shape[-1], item_gains, k)).sum(dim=-1)


def masked_logsumexp(values: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """``logsumexp`` over the ``True`` entries along ``dim``.

    Safe for fully masked slices: they give a very negative finite number (about ``finfo.min``), never NaN,
    and their gradient is 0.
    """
    lowest = torch.finfo(values.dtype).min
    return torch.logsumexp(values.masked_fill(~mask, lowest), dim=dim)


def masked_log_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Row-wise log-softmax over valid items; padded slots (and fully masked rows) return 0, never NaN."""
    lse = masked_logsumexp(scores, mask, dim=-1)
    out = scores - lse.unsqueeze(-1)
    return torch.where(mask, out, torch.zeros_like(out))


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Row-wise softmax over valid items; padded slots get probability 0; a fully masked row is all 0."""
    probs = masked_log_softmax(scores, mask).exp()
    return torch.where(mask, probs, torch.zeros_like(probs))


def safe_divide(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator`` where ``denominator > 0``, else 0; gradients stay finite everywhere."""
    positive = denominator > 0
    safe_den = torch.where(positive, denominator, torch.ones_like(denominator))
    return torch.where(positive, numerator / safe_den, torch.zeros_like(numerator))


def reduce_lists(per_list: Tensor, valid_list: Tensor, scores: Tensor) -> Tensor:
    """The one reduction rule: mean of ``per_list`` over ``valid_list``; 0 (with a gradient path) if none.

    ``per_list`` is ``[B]``, ``valid_list`` a bool ``[B]``; ``scores`` are the *cleaned* scores (see
    :func:`check_inputs`), used only to keep a gradient path when no list is valid. Invalid lists are
    excluded with ``where`` so a non-finite value there cannot leak into the result.
    """
    kept = torch.where(valid_list, per_list, torch.zeros_like(per_list))
    count = valid_list.sum().clamp(min=1).to(per_list.dtype)
    return kept.sum() / count + 0.0 * scores.sum()


def pair_mask(labels: Tensor, mask: Tensor) -> Tensor:
    """Bool ``[B, M, M]``: ``[b, i, j]`` is True when both items are valid and ``y_i > y_j``.

    Grades are compared after clamping at 0, so two non-relevant items (grades -1 and 0) never form a pair.
    """
    grade = labels.clamp(min=0)
    both = mask.unsqueeze(-1) & mask.unsqueeze(-2)
    return both & (grade.unsqueeze(-1) > grade.unsqueeze(-2))


def empty_loss(scores: Tensor) -> Tensor:
    """0 with a gradient path, for inputs without any item (``B == 0`` or ``M == 0``)."""
    return 0.0 * scores.sum()


def predicted_ranks(scores: Tensor, mask: Tensor) -> Tensor:
    """1-based rank ``[B, M]`` of every item when sorting by score descending; padded items rank last.

    Ties in score keep column order (stable sort). Returned in the score dtype; carries no gradient.
    """
    keyed = scores.detach().masked_fill(~mask, 0.0)
    by_score = torch.sort(keyed, dim=-1, descending=True, stable=True).indices
    # second stable pass: valid items first, keeping their score order
    valid_first = torch.sort((~mask).gather(-1, by_score).to(torch.uint8), dim=-1, stable=True).indices
    order = by_score.gather(-1, valid_first)
    positions = torch.arange(1, scores.shape[-1] + 1, device=scores.device, dtype=scores.dtype)
    ranks = torch.empty_like(keyed)
    ranks.scatter_(-1, order, positions.expand_as(keyed).contiguous())
    return ranks
