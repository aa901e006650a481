"""Run files scored against qrels without a model: the qrels a config names (data + split, or a file) and
one run file read and evaluated against them. Shared by ``evaluate.py run=`` and ``evaluate.py runs=``."""

from __future__ import annotations

import sys
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradedpr.commands.common import slug
from gradedpr.config.schema import EvaluateApp
from gradedpr.data.from_config import collection_from_config
from gradedpr.data.qrels import read_qrels_file
from gradedpr.data.runs import read_trec_run
from gradedpr.errors import DataError
from gradedpr.evaluation.metrics import EvalResult, MeanOver, evaluate_run
from gradedpr.types import Qrels


@dataclass
class _Judged:
    """The qrels run files are scored against, with where they came from."""

    qrels: Qrels
    label: str  # "<data>-<split>" or the qrels file stem: used in default output paths
    doc_ids: Container[str] | None  # the corpus, when data + split gave the qrels
    source: dict[str, Any]


def judged_qrels(app: EvaluateApp) -> _Judged:
    if app.qrels:
        path = Path(app.qrels)
        return _Judged(read_qrels_file(path), slug(path.stem), None, {"qrels": str(path)})
    split = app.split
    collection = collection_from_config(app.data, splits=[split])
    return _Judged(collection.qrels[split], f"{app.data.name}-{split}", collection.corpus,
                   {"data": app.data.name, "split": split})


def describe_mean(result: EvalResult) -> str:
    """Which queries ``result`` averages over, in words."""
    if result.mean_over == "qrels":
        return "trec_eval -c: every query of the qrels, missing ones count 0"
    return "pytrec_eval: queries in both run and qrels"


def score_file(path: Path, name: str, judged: _Judged, measures: list[str], mean_over: MeanOver
                ) -> tuple[EvalResult, dict[str, Any]]:
    """Read and evaluate one run file. Queries unknown to the qrels are ignored (as trec_eval does) and
    reported on stderr; qrels queries the run lacks count 0 with ``mean_over="qrels"``."""
    run = read_trec_run(path, judged.doc_ids)
    unknown = [qid for qid in run if qid not in judged.qrels]
    if len(unknown) == len(run):
        raise DataError(f"none of the run's {len(run)} queries is in the qrels (e.g. {unknown[0]!r}): "
                        "check the split and the query ids", path)
    if unknown:
        print(f"warning: {path}: {len(unknown)} of {len(run)} queries are not in the qrels and are ignored "
              f"(as trec_eval does), e.g. {unknown[0]!r}", file=sys.stderr)
    try:
        result = evaluate_run(run, judged.qrels, measures, mean_over=mean_over)
    except DataError as exc:
        raise (exc if exc.path else DataError(exc.message, path)) from None
    missing = sum(1 for qid in judged.qrels if qid not in run)
    info = {"path": str(path), "name": name, "queries": len(run), "queries_not_in_qrels": len(unknown),
            "qrels_queries_not_in_run": missing}
    return result, info
