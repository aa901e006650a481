"""Every p-value of the generalization study (docs/study/generalize) recomputed from the per-query values kept
in the repository: `python -m pytest tests/study/test_evidence_in_repository.py` from a clone."""

from __future__ import annotations

from pathlib import Path

from evidence_check import check_summary

DOCS = Path(__file__).resolve().parents[2] / "docs" / "study" / "generalize"


def test_reported_p_values_follow_from_the_kept_per_query_values() -> None:
    assert check_summary(DOCS) >= 10
