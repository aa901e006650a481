"""Paired significance tests over per-query values of two systems, and Holm's multiple-comparison correction.

Every test takes two equally long sequences ``a`` and ``b`` holding one value per query, paired by position
(``a[i]`` and ``b[i]`` are the same query), and tests the null hypothesis that the two systems are
exchangeable, against the two-sided alternative that the mean of ``d = a - b`` is not 0.

* :func:`randomization_test` -- Fisher's paired randomisation (permutation) test as recommended for IR by
  Smucker, Allan & Carterette, "A comparison of statistical significance tests for information retrieval
  evaluation", CIKM 2007. Under the null hypothesis the labels of each pair can be swapped, i.e. the sign of
  every ``d_i`` flipped, without changing the distribution of the statistic ``|mean(d)|``. The test draws
  random sign vectors; :func:`exact_randomization_test` enumerates all ``2^n`` of them.
* :func:`paired_t_test` -- Student's paired t-test (``scipy.stats.ttest_rel``), for comparison.
* :func:`holm` -- Holm-Bonferroni adjusted p-values for a family of tests (Holm, "A simple sequentially
  rejective multiple test procedure", Scandinavian Journal of Statistics 6(2), 1979).

Inputs are converted to float64; a length mismatch, fewer than two pairs or a non-finite value raise
``ValueError`` (never a NaN p-value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

MAX_EXACT_PAIRS = 20
"""Largest ``n`` :func:`exact_randomization_test` enumerates (2^20 = 1,048,576 sign vectors)."""

TIE_TOLERANCE = 1e-9
"""Relative tolerance (times ``sum |d_i|``) under which a permuted statistic counts as equal to the observed.

Different sign vectors can give the same statistic exactly in real arithmetic (e.g. flipping every sign)
while their floating-point sums differ in the last bits; the tolerance makes such ties count, as they must."""

_CHUNK_ELEMENTS = 1 << 21  # sign-matrix elements per chunk (int8 draw + float64 product: ~20 MB)


def _differences(a: ArrayLike, b: ArrayLike) -> FloatArray:
    """``a - b`` as a 1-D float64 array after checking that the pairs are usable."""
    left = np.asarray(a, dtype=np.float64)
    right = np.asarray(b, dtype=np.float64)
    if left.ndim != 1 or right.ndim != 1:
        raise ValueError(f"expected two 1-D sequences of per-query values, got shapes {left.shape} and {right.shape}")
    if left.size != right.size:
        raise ValueError(
            f"paired test needs one value per query from each system: got {left.size} and {right.size} values"
        )
    if left.size < 2:
        raise ValueError(f"paired test needs at least 2 paired queries, got {left.size}")
    if not (np.isfinite(left).all() and np.isfinite(right).all()):
        raise ValueError("per-query values must be finite (found NaN or infinity)")
    return left - right


def _count_extreme(signed_sums: FloatArray, observed: float, tolerance: float) -> int:
    """How many permuted sums are at least as extreme as the observed one: ``|S*| >= |S| - tolerance``."""
    return int(np.count_nonzero(np.abs(signed_sums) >= observed - tolerance))


def randomization_test(a: ArrayLike, b: ArrayLike, n_permutations: int = 10000, seed: int = 0) -> float:
    """Two-sided paired randomisation test of ``mean(a - b) = 0`` by random sign flips (Monte Carlo).

    With ``d = a - b`` (n pairs) and observed statistic ``T = |sum_i d_i|`` (equivalent to ``|mean(d)|``),
    draw ``N = n_permutations`` sign vectors ``s`` uniformly from ``{-1, +1}^n`` and count
    ``C = #{ |sum_i s_i d_i| >= T - eps }`` with ``eps = TIE_TOLERANCE * sum_i |d_i|``. The p-value is

        ``p = (1 + C) / (1 + N)``

    i.e. the observed labelling is counted as one of the permutations, so that ``p`` is never 0 and the test
    is valid (its size does not exceed the nominal level) for any ``N``; see Smucker, Allan & Carterette,
    CIKM 2007, and Phipson & Smyth, "Permutation p-values should never be zero", 2010. The Monte-Carlo
    standard error of ``p`` is about ``sqrt(p (1 - p) / N)``.

    Deterministic for a given ``seed``, ``n`` and ``N`` (numpy ``default_rng(seed)``); vectorised in chunks,
    so 10,000 permutations of 300 queries take a few milliseconds. All-zero differences give ``p = 1``.
    Raises ``ValueError`` for mismatched lengths, fewer than two pairs, non-finite values or ``N < 1``.
    """
    diffs = _differences(a, b)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    n = diffs.size
    observed = abs(float(diffs.sum()))
    tolerance = TIE_TOLERANCE * float(np.abs(diffs).sum())
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_ELEMENTS // n)
    count = 0
    done = 0
    while done < n_permutations:
        size = min(rows, n_permutations - done)
        bits = rng.integers(0, 2, size=(size, n), dtype=np.int8)
        signs = (1 - 2 * bits).astype(np.float64)
        count += _count_extreme(signs @ diffs, observed, tolerance)
        done += size
    return (1 + count) / (1 + n_permutations)


def exact_randomization_test(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided paired randomisation test with all ``2^n`` sign vectors enumerated (``n <= 20``).

    ``p = #{ s in {-1, +1}^n : |sum_i s_i d_i| >= |sum_i d_i| - eps } / 2^n`` with ``d = a - b`` and
    ``eps = TIE_TOLERANCE * sum_i |d_i|`` (the observed labelling is one of the ``2^n`` vectors, so no
    ``+1`` correction is needed). This is the quantity :func:`randomization_test` estimates.
    Raises ``ValueError`` when ``n > MAX_EXACT_PAIRS`` and for the input errors of :func:`randomization_test`.
    """
    diffs = _differences(a, b)
    n = diffs.size
    if n > MAX_EXACT_PAIRS:
        raise ValueError(
            f"exact randomisation test enumerates 2^n sign flips: n={n} pairs is more than {MAX_EXACT_PAIRS}; "
            "use randomization_test"
        )
    observed = abs(float(diffs.sum()))
    tolerance = TIE_TOLERANCE * float(np.abs(diffs).sum())
    total = 1 << n
    positions = np.arange(n, dtype=np.int64)
    rows = max(1, _CHUNK_ELEMENTS // n)
    count = 0
    for start in range(0, total, rows):
        masks = np.arange(start, min(start + rows, total), dtype=np.int64)
        bits = (masks[:, None] >> positions) & 1  # bit i of the mask flips pair i
        signs = (1 - 2 * bits).astype(np.float64)
        count += _count_extreme(signs @ diffs, observed, tolerance)
    return count / total


def paired_t_test(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided p-value of Student's paired t-test, ``scipy.stats.ttest_rel(a, b)``.

    ``t = mean(d) / (sd(d) / sqrt(n))`` with ``d = a - b``, ``sd`` the sample standard deviation (n - 1),
    compared with Student's t with ``n - 1`` degrees of freedom. Degenerate cases, where scipy would return
    NaN or an infinite statistic: all differences exactly 0 give ``p = 1.0`` (no difference at all); all
    differences equal and non-zero (zero variance) give ``p = 0.0`` (``|t| = inf``).
    Raises ``ValueError`` for mismatched lengths, fewer than two pairs or non-finite values.
    """
    diffs = _differences(a, b)
    if np.all(diffs == diffs[0]):
        return 1.0 if diffs[0] == 0.0 else 0.0
    result = stats.ttest_rel(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return float(result.pvalue)


def holm(pvalues: Sequence[float] | FloatArray) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value of the i-th is

        ``p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))``

    (the running maximum keeps the adjusted values monotone in the raw ones). Rejecting every hypothesis with
    ``p~ <= alpha`` controls the family-wise error rate at ``alpha``. Ties keep their input order; an empty
    input gives ``[]``. Raises ``ValueError`` for a value outside [0, 1] or NaN.
    """
    values = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return []
    if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
        raise ValueError(f"p-values must lie in [0, 1], got {values.tolist()}")
    m = values.size
    order = np.argsort(values, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * values[order])
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(x) for x in adjusted]
