"""Recompute a blind study's reported paired tests from its per-query evidence files, independently of
gradedpr.study (scipy for the t-test and a permutation test; numpy for means)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from gradedpr.evaluation.significance import randomization_test


def row_values(docs: Path, row: dict[str, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-query values of ``row`` (averaged over its seeds) and of what it was compared with (``name``)."""
    def load(regime: str) -> dict[str, Any]:
        return json.loads((docs / "perquery" / row["split"] / f"{regime}.{row['variant']}.json").read_text())

    evidence = load(row["regime"])

    def seed_mean(source: dict[str, Any], loss: str, own: bool = False) -> dict[str, float]:
        seeds = [source["runs"][loss][str(s)] for s in row["seeds"]] if own else list(source["runs"][loss].values())
        return {q: float(np.mean([s[q] for s in seeds])) for q in seeds[0]}

    mine = seed_mean(evidence, row["loss"], own=True)
    if name == "zeroshot":
        other = evidence["zeroshot"]
    elif "/" in name:  # ``against``: the same loss in another regime of the study
        regime, loss = name.split("/", 1)
        other = seed_mean(load(regime), loss)
    else:
        other = seed_mean(evidence, name)
    qids = sorted(other)
    return np.array([mine[q] for q in qids]), np.array([other[q] for q in qids])


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """The paired statistic, vectorised over scipy's resamples (a python call per resample is 50x slower)."""
    return np.mean(x - y, axis=axis)


def check_summary(docs: Path, permutation_slack: float = 0.03, scipy_cells: int = 12) -> int:
    """Assert every test in ``docs/summary.json`` follows from ``docs/perquery``; returns how many were checked.

    Every cell's p-values are recomputed (t-test with scipy, the randomisation test with the study's seed); the
    first ``scipy_cells`` cells are also checked against scipy's own permutation test (0.15 s a cell: the
    randomisation test itself is checked against scipy and exact enumeration in tests/evaluation)."""
    summary = json.loads((docs / "summary.json").read_text())
    checked = 0
    for row in summary["rows"]:
        for name, test in row["tests"].items():
            a, b = row_values(docs, row, name)
            assert abs((a.mean() - b.mean()) - test["diff"]) < 1e-12
            assert abs(a.mean() - row["mean"]) < 1e-12 or name != "zeroshot" or len(row["seeds"]) > 1 or \
                abs(a.mean() - row["per_seed"][0]) < 1e-12
            if np.all(a == b):
                continue
            assert abs(stats.ttest_rel(a, b).pvalue - test["p_t"]) < 1e-9
            assert randomization_test(a, b, summary["n_permutations"], summary["permutation_seed"]) == test["p_perm"]
            assert (test["wins"], test["ties"], test["losses"]) == (int((a > b).sum()), int((a == b).sum()),
                                                                    int((a < b).sum()))
            if checked < scipy_cells:
                scipy_p = stats.permutation_test((a, b), _mean_difference, permutation_type="samples",
                                                 vectorized=True, n_resamples=summary["n_permutations"],
                                                 random_state=1).pvalue
                assert abs(scipy_p - test["p_perm"]) < permutation_slack  # another Monte-Carlo draw of the test
            checked += 1
    return checked
