"""trec_eval-exact evaluation: metrics, TREC run/qrels files, reports."""

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
