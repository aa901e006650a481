"""trec_eval-exact evaluation: metrics, TREC run/qrels files, reports.

The names below are imported on first use (PEP 562): ``gradedpr.evaluation.measures`` is imported by the
configuration checks without torch or the data package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradedpr.data.qrels import read_trec_qrels
    from gradedpr.data.runs import ranking_order, read_trec_run, write_trec_run
    from gradedpr.evaluation.measures import DEFAULT_MEASURES, Measure, parse_measure, parse_measures
    from gradedpr.evaluation.metrics import EvalResult, evaluate_run, list_ndcg
    from gradedpr.evaluation.report import format_table, write_metrics_json
    from gradedpr.types import Qrels, Run

__all__ = [
    "DEFAULT_MEASURES",
    "EvalResult",
    "Measure",
    "Qrels",
    "Run",
    "evaluate_run",
    "format_table",
    "list_ndcg",
    "parse_measure",
    "parse_measures",
    "ranking_order",
    "read_trec_qrels",
    "read_trec_run",
    "write_metrics_json",
    "write_trec_run",
]

_WHERE = {
    "read_trec_qrels": "gradedpr.data.qrels",
    "DEFAULT_MEASURES": "gradedpr.evaluation.measures",
    "Measure": "gradedpr.evaluation.measures",
    "parse_measure": "gradedpr.evaluation.measures",
    "parse_measures": "gradedpr.evaluation.measures",
    "EvalResult": "gradedpr.evaluation.metrics",
    "evaluate_run": "gradedpr.evaluation.metrics",
    "list_ndcg": "gradedpr.evaluation.metrics",
    "format_table": "gradedpr.evaluation.report",
    "write_metrics_json": "gradedpr.evaluation.report",
    "ranking_order": "gradedpr.data.runs",
    "read_trec_run": "gradedpr.data.runs",
    "write_trec_run": "gradedpr.data.runs",
    "Qrels": "gradedpr.types",
    "Run": "gradedpr.types",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
