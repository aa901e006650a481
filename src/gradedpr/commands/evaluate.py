"""``scripts/evaluate.py checkpoint=...``: retrieve a split's queries, write the TREC run and its metrics;
``run=<file>``: score an existing run file (no model)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gradedpr.accel.onednn import set_enabled as set_accel
from gradedpr.commands.common import basename, checkpoint_label, checkpoint_path, load_model, slug
from gradedpr.commands.judged import describe_mean, judged_qrels, mean_over_of, measures_of, score_file
from gradedpr.data.from_config import collection_from_config
from gradedpr.data.runs import write_trec_run
from gradedpr.encode.fingerprint import encoder_fingerprint
from gradedpr.errors import DataError
from gradedpr.evaluation.metrics import EvalResult, evaluate_run
from gradedpr.evaluation.report import format_table, write_metrics_json
from gradedpr.filenames import METRICS_FILE, RUN_FILE
from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import build_dense_index, retrieve

log = logging.getLogger(__name__)

MIN_K = 100


def run_evaluate(cfg: DictConfig) -> EvalResult:
    """Retrieve the split's queries with the checkpoint's query encoder, write the run and the metrics.

    With ``run=<file>`` no model is loaded: the existing run file is scored instead (see ``_score_run_file``).
    ``runs=[...]`` (comparison) is :func:`run_compare`.
    """
    if cfg.get("runs"):
        raise DataError("runs= compares run files: that is run_compare, not run_evaluate")
    if cfg.get("run"):
        return _score_run_file(cfg)
    k = int(cfg.k)
    set_accel(bool(cfg.get("accel", True)))
    if k < MIN_K:
        raise DataError(f"k={k} is too small: the measures go down to rank {MIN_K}; use k >= {MIN_K}")
    split = str(cfg.split)
    model = load_model(cfg, query_max_length=cfg.model.get("query_max_length"),
                        passage_max_length=cfg.model.get("passage_max_length"))
    collection = collection_from_config(cfg.data, splits=[split])
    show = bool(cfg.show_progress)
    max_tokens = cfg.get("max_tokens")
    index_dir = cfg.get("index")
    index: DenseIndex | None
    if index_dir:
        index = DenseIndex.load(str(index_dir), model=model, corpus=collection.corpus,
                                allow_mismatch=bool(cfg.allow_mismatch), search_parameters=cfg.get("search_params"))
        if index.meta["encoder"].get("query_fingerprint") != encoder_fingerprint(model, "query"):
            log.info("the query encoder differs from the one stored with the index (expected when only the "
                     "query side was trained)")
    else:
        index = build_dense_index(model, collection.corpus, IndexSpec("flat"), batch_size=int(cfg.batch_size),
                                  max_tokens=max_tokens, show_progress=show, corpus_name=str(cfg.data.name))
        assert index is not None
    stats: dict[str, Any] = {}
    run = retrieve(model, collection, split, k, index=index, batch_size=int(cfg.batch_size),
                   max_tokens=max_tokens, show_progress=show, stats=stats)
    measures = list(cfg.measures)
    result = evaluate_run(run, collection.qrels[split], measures, mean_over=mean_over_of(cfg))
    output = (Path(str(cfg.output)) if cfg.get("output")
              else Path("outputs/eval") / f"{cfg.data.name}-{checkpoint_label(cfg.checkpoint)}-{split}")
    tag = str(cfg.run_tag or basename(cfg.checkpoint))
    run_path, metrics_path = output / RUN_FILE, output / METRICS_FILE
    write_trec_run(run_path, run, tag=tag, k=k)
    extra: Mapping[str, Any] = {
        "checkpoint": checkpoint_path(str(cfg.checkpoint)),
        "data": str(cfg.data.name),
        "split": split,
        "k": k,
        "index": str(index_dir) if index_dir else None,
        "index_type": index.meta["index"]["factory"],
        "search_parameters": index.meta["index"]["search_parameters"],
        "search": stats,
        "model": model.config.to_dict(),
    }
    write_metrics_json(metrics_path, result, extra)
    rule = describe_mean(result)
    sys.stdout.write(format_table({tag: result}, measures))
    print(
        f"{split} of {cfg.data.name}: mean over {result.num_queries} queries ({rule}); "
        f"{index.meta['index']['factory']} index, top {k}, {stats.get('qps', 0):.0f} queries/s\n"
        f"run: {run_path}\nmetrics: {metrics_path}"
    )
    return result



def _score_run_file(cfg: DictConfig) -> EvalResult:
    """``run=<file>``: evaluate an existing run file, print the table, write ``<output>/metrics.json``."""
    path = Path(str(cfg.run))
    name = slug(path.stem)
    judged = judged_qrels(cfg)
    measures = measures_of(cfg)
    mean_over = mean_over_of(cfg)
    result, info = score_file(path, name, judged, measures, mean_over)
    default = f"{judged.label}-{name}" if cfg.get("qrels") else f"{cfg.data.name}-{name}-{cfg.split}"
    output = Path(str(cfg.output)) if cfg.get("output") else Path("outputs/eval") / slug(default)
    metrics_path = output / METRICS_FILE
    write_metrics_json(metrics_path, result, {**judged.source, "run_file": info})
    rule = describe_mean(result)
    sys.stdout.write(format_table({name: result}, measures))
    print(f"{path}: mean over {result.num_queries} queries ({rule}); the run has {info['queries']} queries, "
          f"{info['queries_not_in_qrels']} not in the qrels\nmetrics: {metrics_path}")
    return result
