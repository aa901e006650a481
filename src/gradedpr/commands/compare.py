"""``scripts/evaluate.py runs=[...]``: score several run files against the same qrels and compare each with a
baseline by paired significance tests (no model)."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gradedpr.commands.checks import evaluate_app
from gradedpr.commands.common import slug
from gradedpr.commands.judged import judged_qrels, score_file
from gradedpr.config.schema import EvaluateApp
from gradedpr.errors import ConfigError, DataError
from gradedpr.evaluation.compare import Comparison, compare_runs
from gradedpr.evaluation.metrics import EvalResult
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.outputs import check_result_files


def _run_entries(runs: Any) -> list[tuple[str | None, str]]:
    """(explicit name or None, path) for every entry of ``runs`` (a list, ``name=path`` items, or a mapping)."""
    if isinstance(runs, (DictConfig, Mapping)):
        return [(str(name), str(path)) for name, path in runs.items()]
    if isinstance(runs, str):
        runs = [runs]
    entries: list[tuple[str | None, str]] = []
    for item in runs:
        text = str(item)
        name, sep, rest = text.partition("=")
        if sep and name and rest and "/" not in name:
            entries.append((name, rest))
        else:
            entries.append((None, text))
    return entries


def _default_names(paths: list[str]) -> list[str]:
    """File stems; runs whose stems collide get as many parent directories as make them distinct."""
    parts = [Path(p).with_suffix("").parts if Path(p).suffix else Path(p).parts for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ["/".join(part[-d:]) for part, d in zip(parts, depth, strict=True)]
        counts: dict[str, int] = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        grow = [i for i, name in enumerate(names) if counts[name] > 1 and depth[i] < len(parts[i])]
        if not grow:
            return names
        for i in grow:
            depth[i] += 1


def _named_runs(runs: Any) -> dict[str, Path]:
    entries = _run_entries(runs)
    unnamed = [i for i, (name, _) in enumerate(entries) if name is None]
    defaults = dict(zip(unnamed, _default_names([entries[i][1] for i in unnamed]), strict=True))
    named: dict[str, Path] = {}
    for i, (name, path) in enumerate(entries):
        label = name if name is not None else defaults[i]
        if label in named:
            raise DataError(f"two runs are named {label!r} ({named[label]} and {path}); name them: "
                            "runs={a: file1, b: file2}")
        named[label] = Path(path)
    return named


def _baseline_name(baseline: Any, named: Mapping[str, Path]) -> str:
    if baseline is None:
        return next(iter(named))
    text = str(baseline)
    if text in named:
        return text
    wanted = Path(text).resolve()
    for name, path in named.items():
        if path.resolve() == wanted:
            return name
    raise DataError(f"baseline {text!r} is not among the runs ({', '.join(named)}); give a run name or path")


def run_compare(cfg: DictConfig | EvaluateApp) -> Comparison:
    """``runs=[...] baseline=...``: score every run file against the same qrels (trec_eval -c) and compare
    each with the baseline by paired tests; print the Markdown tables, write ``compare.json`` and ``compare.md``
    into ``output``. No model is loaded."""
    app = evaluate_app(cfg)
    if app.run:
        raise ConfigError("give either run= (score one file) or runs= (compare several), not both")
    if app.mean_over != "qrels":
        raise ConfigError(f"mean_over={app.mean_over!r}: runs are compared over every query of the qrels "
                          "(trec_eval -c); use mean_over=qrels")
    named = _named_runs(app.runs)
    if len(named) < 2:
        raise DataError(f"runs= needs at least two run files to compare, got {len(named)}")
    baseline = _baseline_name(app.baseline, named)
    n_permutations, seed = app.n_permutations, app.seed
    measures = list(app.measures)
    judged = judged_qrels(app)
    if len(judged.qrels) < 2:  # checked before the runs are read, whose queries would all be warned about
        noun = "query" if len(judged.qrels) == 1 else "queries"
        raise DataError(f"the qrels hold {len(judged.qrels)} {noun}, so the runs have {len(judged.qrels)} {noun} "
                        "in common; paired tests need at least 2")
    results: dict[str, EvalResult] = {}
    files: dict[str, dict[str, Any]] = {}
    for name, path in named.items():
        results[name], files[name] = score_file(path, name, judged, measures, "qrels")
    comparison = compare_runs(results, baseline, measures, n_permutations=n_permutations, seed=seed)
    comparison.extra.update({**judged.source, "run_files": files})
    if app.output:
        output = Path(app.output)
    else:
        joined = slug("-".join(comparison.runs))
        if len(joined) > 80:
            digest = hashlib.sha1("\0".join(str(p) for p in named.values()).encode()).hexdigest()[:8]
            joined = f"{joined[:70]}-{digest}"
        output = Path("outputs/compare") / f"{judged.label}-{joined}"
    table = comparison.to_markdown()
    json_path, markdown_path = output / "compare.json", output / "compare.md"
    check_result_files(output, (json_path.name, markdown_path.name), overwrite=app.overwrite)
    atomic_write_text(json_path, json.dumps(comparison.to_dict(), indent=2, allow_nan=False) + "\n")
    atomic_write_text(markdown_path, table)
    sys.stdout.write(table)
    print(f"comparison: {json_path} (and {markdown_path.name})")
    return comparison
