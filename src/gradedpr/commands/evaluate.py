"""``scripts/evaluate.py checkpoint=...``: retrieve a split's queries, write the TREC run and its metrics;
``run=<file>``: score an existing run file (no model)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gradedpr.commands.checks import evaluate_app
from gradedpr.commands.common import basename, checkpoint_label, checkpoint_path, load_model, slug
from gradedpr.commands.judged import describe_mean, judged_qrels, score_file
from gradedpr.config.schema import EvaluateApp
from gradedpr.data.collection import Collection
from gradedpr.data.from_config import collection_from_config
from gradedpr.data.runs import read_trec_run, trec_token, write_trec_run
from gradedpr.encode.fingerprint import encoder_fingerprint
from gradedpr.errors import ConfigError
from gradedpr.evaluation.metrics import EvalResult, evaluate_run, parse_mean_over
from gradedpr.evaluation.per_grade import GradeResult, format_per_grade, per_grade
from gradedpr.evaluation.report import format_table, write_metrics_json
from gradedpr.filenames import METRICS_FILE, RUN_FILE
from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import build_dense_index, retrieve
from gradedpr.model.biencoder import BiEncoder
from gradedpr.types import Qrels, Run
from gradedpr.utils.outputs import check_result_files

log = logging.getLogger(__name__)


def run_evaluate(cfg: DictConfig | EvaluateApp) -> EvalResult:
    """Retrieve the split's queries with the checkpoint's query encoder, write the run and the metrics.

    With ``run=<file>`` no model is loaded: the existing run file is scored instead (see ``_score_run_file``).
    ``runs=[...]`` (comparison) is :func:`run_compare`.
    """
    app = evaluate_app(cfg)
    if app.runs:
        raise ConfigError("runs= compares run files: that is run_compare, not run_evaluate")
    measures = list(app.measures)
    if app.run:
        return _score_run_file(app, measures)
    k = app.k
    output = (Path(app.output) if app.output
              else Path("outputs/eval") / f"{app.data.name}-{checkpoint_label(app.checkpoint)}-{app.split}")
    split = app.split
    check_result_files(output, (RUN_FILE, METRICS_FILE), overwrite=app.overwrite)
    model = load_model(app.checkpoint, app.device, app.accel, query_max_length=app.model.query_max_length,
                       passage_max_length=app.model.passage_max_length)
    collection = collection_from_config(app.data, splits=[split])
    index = _dense_index(app, model, collection)
    index_dir, show, max_tokens = app.index, app.show_progress, app.max_tokens
    stats: dict[str, Any] = {}
    run = retrieve(model, collection, split, k, index=index, batch_size=app.batch_size,
                   max_tokens=max_tokens, show_progress=show, stats=stats)
    result = evaluate_run(run, collection.qrels[split], measures, mean_over=parse_mean_over(app.mean_over))
    tag = app.run_tag or trec_token(basename(app.checkpoint))  # a directory name may hold spaces
    run_path, metrics_path = output / RUN_FILE, output / METRICS_FILE
    write_trec_run(run_path, run, tag=tag, k=k)
    extra: Mapping[str, Any] = {
        "checkpoint": checkpoint_path(app.checkpoint),
        "data": app.data.name,
        "split": split,
        "k": k,
        "index": str(index_dir) if index_dir else None,
        "index_type": index.meta["index"]["factory"],
        "search_parameters": index.meta["index"]["search_parameters"],
        "search": stats,
        "model": model.config.to_dict(),
    }
    grades = _per_grade(app, run, collection.qrels[split])
    if grades:
        extra = {**extra, "per_grade": [row.to_dict() for row in grades]}
    write_metrics_json(metrics_path, result, extra)
    rule = describe_mean(result)
    sys.stdout.write(format_table({tag: result}, measures))
    _print_per_grade(grades)
    print(
        f"{split} of {app.data.name}: mean over {result.num_queries} queries ({rule}); "
        f"{index.meta['index']['factory']} index, top {k}, {stats.get('qps', 0):.0f} queries/s\n"
        f"run: {run_path}\nmetrics: {metrics_path}"
    )
    return result


def _dense_index(app: EvaluateApp, model: BiEncoder, collection: Collection) -> DenseIndex:
    """The index ``index=`` names (checked against the model and corpus), else the corpus encoded now (flat)."""
    if app.index:
        index = DenseIndex.load(app.index, model=model, corpus=collection.corpus,
                                allow_mismatch=app.allow_mismatch, search_parameters=app.search_params)
        if index.meta["encoder"].get("query_fingerprint") != encoder_fingerprint(model, "query"):
            log.info("the query encoder differs from the one stored with the index (expected when only the "
                     "query side was trained)")
        return index
    built = build_dense_index(model, collection.corpus, IndexSpec("flat"), batch_size=app.batch_size,
                              max_tokens=app.max_tokens, show_progress=app.show_progress, corpus_name=app.data.name)
    assert built is not None
    return built


def _score_run_file(app: EvaluateApp, measures: list[str]) -> EvalResult:
    """``run=<file>``: evaluate an existing run file, print the table, write ``<output>/metrics.json``."""
    assert app.run
    path = Path(app.run)
    name = slug(path.stem)
    if app.output:
        check_result_files(app.output, (METRICS_FILE,), overwrite=app.overwrite)
    judged = judged_qrels(app)
    mean_over = parse_mean_over(app.mean_over)
    result, info = score_file(path, name, judged, measures, mean_over)
    default = f"{judged.label}-{name}" if app.qrels else f"{app.data.name}-{name}-{app.split}"
    output = Path(app.output) if app.output else Path("outputs/eval") / slug(default)
    metrics_path = output / METRICS_FILE
    check_result_files(output, (METRICS_FILE,), overwrite=app.overwrite)
    extra: dict[str, Any] = {**judged.source, "run_file": info}
    grades = _per_grade(app, read_trec_run(path, judged.doc_ids), judged.qrels) if app.per_grade else []
    if grades:
        extra["per_grade"] = [row.to_dict() for row in grades]
    write_metrics_json(metrics_path, result, extra)
    rule = describe_mean(result)
    sys.stdout.write(format_table({name: result}, measures))
    _print_per_grade(grades)
    print(f"{path}: mean over {result.num_queries} queries ({rule}); the run has {info['queries']} queries, "
          f"{info['queries_not_in_qrels']} not in the qrels\nmetrics: {metrics_path}")
    return result


def _per_grade(app: EvaluateApp, run: Run, qrels: Qrels) -> list[GradeResult]:
    """``per_grade=true``: one row per grade of the qrels, highest first (else none)."""
    return per_grade(run, qrels, app.per_grade_cutoffs) if app.per_grade else []


def _print_per_grade(rows: list[GradeResult]) -> None:
    if rows:
        sys.stdout.write("per grade (recall@k: share of the grade's documents in the top k, mean over the queries "
                         "with the grade; found: share retrieved; mean rank of the retrieved ones):\n"
                         + format_per_grade(rows))
