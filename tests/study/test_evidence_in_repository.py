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
