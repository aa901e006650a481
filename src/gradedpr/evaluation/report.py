"""Reports of evaluation results: a Markdown table for people, a JSON file for programs."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gradedpr.evaluation.metrics import EvalResult
from gradedpr.filenames import METRICS_FILE, RUN_FILE
from gradedpr.utils.atomic import atomic_write_text


def aligned_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table aligned for reading as plain text: the first column left, the others right (``---:``).
    Every table gradedpr prints or logs is drawn by this function."""
    lines = [list(header), *([str(c) for c in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        padded = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (widths[i] + 2)) if i == 0 else ("-" * (widths[i] + 1) + ":") for i in range(len(header))
    ) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])]) + "\n"


def format_table(
    results: Mapping[str, EvalResult] | EvalResult, measures: Sequence[str] | None = None
) -> str:
    """A Markdown table (also readable as plain text): one row per run, one column per measure, 4 decimals.

    ``results`` is one result (its row is named ``run``) or a mapping run name -> result. ``measures``
    defaults to the measures of the first result. A measure a result lacks is shown as ``-``. The last column
    gives the number of queries averaged and the rule (``qrels`` = trec_eval -c, ``both`` = pytrec_eval).
    """
    rows = {"run": results} if isinstance(results, EvalResult) else dict(results)
    if not rows:
        raise ValueError("no result to format")
    if measures is None:
        first = next(iter(rows.values()))
        measures = first.measures or tuple(first.mean)
    header = ["run", *measures, "queries"]
    lines = [header]
    for name, result in rows.items():
        cells = [name]
        for measure in measures:
            value = result.mean.get(measure)
            cells.append("-" if value is None or math.isnan(value) else f"{value:.4f}")
        cells.append(f"{result.num_queries} ({result.mean_over})")
        lines.append(cells)
    return aligned_table(lines[0], lines[1:])


def result_to_dict(result: EvalResult, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready dict: mean, num_queries, mean_over, measures, extra metadata and per_query."""
    return {
        "mean": dict(result.mean),
        "num_queries": result.num_queries,
        "mean_over": result.mean_over,
        "measures": list(result.measures or result.mean),
        "extra": dict(extra or {}),
        "per_query": {qid: dict(values) for qid, values in result.per_query.items()},
    }


def write_metrics_json(path: str | Path, result: EvalResult, extra: Mapping[str, Any] | None = None) -> None:
    """Write ``result`` and ``extra`` metadata (e.g. run name, checkpoint, data split) atomically as JSON.

    ``extra`` must be JSON-serialisable; anything else raises ``TypeError`` before the file is touched.
    """
    text = json.dumps(result_to_dict(result, extra), indent=2, allow_nan=False) + "\n"
    atomic_write_text(path, text)


def write_run_and_metrics(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    out_dir: str | Path,
    tag: str,
    extra: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Score ``run`` against ``qrels`` and keep it: ``out_dir/run.trec`` and the per-query ``out_dir/metrics.json``.
    ``tag`` is made one TREC column (whitespace -> ``_``: it is often a run directory's name)."""
    from gradedpr.data.runs import trec_token, write_trec_run
    from gradedpr.evaluation.metrics import evaluate_run

    tag = trec_token(tag)
    result = evaluate_run(run, qrels)
    write_trec_run(Path(out_dir) / RUN_FILE, run, tag=tag)
    write_metrics_json(Path(out_dir) / METRICS_FILE, result, {"tag": tag, **(extra or {})})
    return result
