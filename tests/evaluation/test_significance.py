"""Paired significance tests: hand-computed exact cases, Monte Carlo vs enumeration, scipy's t-test, Holm."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from scipy import stats

from gradedpr.evaluation.significance import (
    exact_randomization_test,
    holm,
    paired_t_test,
    randomization_test,
)


def _brute_force_exact(d: list[float]) -> float:
    """Enumerate the sign vectors with itertools and exact rational-free arithmetic on small integers."""
    observed = abs(sum(d))
    hits = sum(
        1 for signs in itertools.product((1, -1), repeat=len(d))
        if abs(sum(s * x for s, x in zip(signs, d, strict=True))) >= observed - 1e-12
    )
    return hits / 2 ** len(d)


def test_exact_test_on_hand_computed_cases() -> None:
    # d = (1, 2, 3): the sums of the 8 sign vectors are +-6, +-4, +-2, 0, 0; |S| >= 6 for 2 of them.
    assert exact_randomization_test([1, 2, 3], [0, 0, 0]) == 0.25
    # d = (0.1, 0.2, 0.3, -0.1), S = 0.5: S* = 0.7 - 2 * (flipped magnitudes of 0.1, 0.2, 0.3, 0.1); |S*| >= 0.5
    # for the flipped sets {}, {first 0.1}, {last 0.1} and their mirror images: 6 of 16. Two of them equal S
    # only in real arithmetic (different float sums): the tolerance makes them count.
    a = [0.6, 0.7, 0.8, 0.4]
    b = [0.5, 0.5, 0.5, 0.5]
    assert exact_randomization_test(a, b) == 6 / 16
    # opposite differences: S = 0, every sign vector is at least as extreme
    assert exact_randomization_test([1.0, 0.0], [0.0, 1.0]) == 1.0
    assert exact_randomization_test([0.3] * 5, [0.3] * 5) == 1.0


def test_exact_test_matches_brute_force_on_integers() -> None:
    rng = np.random.default_rng(3)
    for n in range(2, 9):
        d = rng.integers(-4, 5, size=n).astype(float).tolist()
        assert exact_randomization_test(d, [0.0] * n) == _brute_force_exact(d)


@pytest.mark.parametrize("n", [3, 5, 7, 10])
def test_monte_carlo_is_within_its_error_of_the_exact_value(n: int) -> None:
    rng = np.random.default_rng(n)
    permutations = 20000
    for trial in range(3):
        a = rng.random(n)
        b = a + rng.normal(0.05 * trial, 0.1, size=n)
        exact = exact_randomization_test(a, b)
        estimate = randomization_test(a, b, n_permutations=permutations, seed=trial)
        # (1 + C) / (1 + N) is C / N shifted by at most 1 / N; 5 standard errors of the binomial proportion
        tolerance = 5 * math.sqrt(exact * (1 - exact) / permutations) + 2 / permutations
        assert abs(estimate - exact) <= tolerance, (n, trial, estimate, exact)


def test_randomization_p_convention_seed_and_degenerate_cases() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(300)
    far = a + 0.5
    # the observed labelling counts: p is never 0; nothing else is as extreme as a constant shift of 0.5
    assert randomization_test(far, a, n_permutations=999) == 1 / 1000
    b = a + rng.normal(0.0, 0.2, size=300)
    assert randomization_test(a, b, seed=7) == randomization_test(a, b, seed=7)
    assert randomization_test(a, b) == randomization_test(b, a)  # two-sided
    assert randomization_test(a, a) == 1.0  # all differences 0: every flip ties
    assert 0 < randomization_test(a, b, n_permutations=1) <= 1


def test_ten_thousand_permutations_of_300_queries_is_fast() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random(300), rng.random(300)
    began = time.perf_counter()
    randomization_test(a, b, n_permutations=10000)
    assert time.perf_counter() - began < 2.0  # a few ms on a quiet core; generous for a loaded machine


def test_t_test_equals_scipy() -> None:
    rng = np.random.default_rng(2)
    for n in (2, 3, 10, 300):
        a = rng.random(n)
        b = rng.random(n)
        assert paired_t_test(a, b) == pytest.approx(float(stats.ttest_rel(a, b).pvalue), rel=1e-12, abs=0)
    # the worked example: d = (0.7, 1.4, 2.1), t = 1.4 / (0.7 / sqrt 3) = 2 sqrt 3, 2 degrees of freedom
    assert paired_t_test([1, 2, 3], [0.3, 0.6, 0.9]) == pytest.approx(2 * stats.t.sf(2 * math.sqrt(3), 2))


def test_t_test_degenerate_cases_are_numbers() -> None:
    assert paired_t_test([0.5, 0.25, 1.0], [0.5, 0.25, 1.0]) == 1.0  # scipy: NaN
    assert paired_t_test([1.0, 2.0, 3.0], [0.0, 1.0, 2.0]) == 0.0  # zero variance, |t| = inf


def test_holm_against_a_hand_computed_example() -> None:
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([0.2]) == [0.2]
    assert holm([]) == []
    rng = np.random.default_rng(4)
    raw = rng.random(12) ** 3
    adjusted = np.asarray(holm(raw))
    assert (adjusted >= raw).all() and (adjusted <= 1).all()
    order = np.argsort(raw)
    assert (np.diff(adjusted[order]) >= 0).all()  # monotone in the raw p-values


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: randomization_test([1.0, 2.0], [1.0]), "2 and 1 values"),
        (lambda: paired_t_test([1.0, 2.0, 3.0], [1.0, 2.0]), "3 and 2 values"),
        (lambda: randomization_test([1.0], [0.0]), "at least 2 paired queries"),
        (lambda: exact_randomization_test([], []), "at least 2 paired queries"),
        (lambda: paired_t_test([1.0, float("nan")], [0.0, 0.0]), "finite"),
        (lambda: randomization_test([1.0, 2.0], [0.0, 0.0], n_permutations=0), "n_permutations"),
        (lambda: exact_randomization_test([0.0] * 21, [1.0] * 21), "more than 20"),
        (lambda: holm([0.5, 1.5]), r"\[0, 1\]"),
        (lambda: holm([float("nan")]), r"\[0, 1\]"),
    ],
)
def test_bad_input_raises_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
