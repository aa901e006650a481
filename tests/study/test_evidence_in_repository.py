"""Every p-value of the blind studies (docs/study/<name>/ with per-query evidence) recomputed from the values kept
in the repository: `python -m pytest tests/study/test_evidence_in_repository.py` from a clone."""

from __future__ import annotations

from pathlib import Path

import pytest
from evidence_check import check_summary

STUDIES = Path(__file__).resolve().parents[2] / "docs" / "study"
BLIND = sorted(p.name for p in STUDIES.iterdir() if (p / "perquery").is_dir() and (p / "summary.json").is_file())


def test_the_studies_with_evidence_are_found() -> None:
    assert {"generalize", "bounded"} <= set(BLIND)


@pytest.mark.parametrize("study", BLIND)
def test_reported_p_values_follow_from_the_kept_per_query_values(study: str) -> None:
    assert check_summary(STUDIES / study) >= 4


def test_the_tools_rows_against_gradedpr_follow_from_the_kept_values() -> None:
    """docs/RESULTS.md compares sentence-transformers' 20-minute runs (study=tools) with graded InfoNCE's three
    seeds (study=generalize, regime all) on test: recomputed here from both studies' per-query files."""
    import json

    import numpy as np
    from scipy import stats

    from gradedpr.evaluation.significance import randomization_test

    def load(study: str, regime: str) -> dict:
        return json.loads((STUDIES / study / "perquery" / "test" / f"{regime}.all.json").read_text())

    seeds = list(load("generalize", "all")["runs"]["graded_infonce"].values())
    gradedpr = {q: float(np.mean([s[q] for s in seeds])) for q in seeds[0]}
    queries = sorted(gradedpr)
    b = np.array([gradedpr[q] for q in queries])
    for loss, diff, p_perm, p_t in (("cached_mnrl", -0.0314, 0.0003, 0.0003), ("mnrl", -0.0404, 0.0001, 0.0001)):
        [run] = load("tools", "st_20min")["runs"][loss].values()
        a = np.array([run[q] for q in queries])
        assert round(a.mean() - b.mean(), 4) == diff
        assert round(randomization_test(a, b), 4) == p_perm
        assert stats.ttest_rel(a, b).pvalue < p_t + 0.00005
