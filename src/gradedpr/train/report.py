"""What a person reads at the end of a training run: a table of the dev metrics of the start model and of the
best step, and the test metrics of the best checkpoint, rounded to 4 decimals.

Everything goes through :mod:`logging` (logger ``gradedpr.train.report``), so it lands on the console and in
``run_dir/train.log`` alike; the files of the run (``metrics.jsonl``, ``train_summary.json``, ``<split>/metrics.json``)
keep full precision. :func:`run_log_file` makes sure ``train.log`` is written when no one else does (Hydra's job
logging writes it for ``scripts/train.py``; a training started from Python gets it here).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from gradedpr.evaluation.report import aligned_table

log = logging.getLogger(__name__)
TRAIN_LOG = "train.log"
"""The run's log file (Hydra's job logging names it after the script: ``train.log``)."""
DECIMALS = 4
_NOT_MEASURES = {"seconds"}
_LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's default file format


def rounded(value: Any, decimals: int = DECIMALS) -> str:
    """A number as a person reads it (``0.7720425537584985`` -> ``0.7720``); ``-`` for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.{decimals}f}"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The end-of-run table: the first column as it is, the numbers rounded (:func:`rounded`)."""
    return aligned_table(columns, [[str(row[0])] + [rounded(v) for v in row[1:]] for row in rows]).rstrip("\n")


def metrics_table(evaluations: Sequence[Mapping[str, Any]], best_step: int | None,
                  test_metrics: Mapping[str, float] | None = None, *, eval_split: str = "dev",
                  test_split: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows: one row per measure; the start model's dev value (when step 0 was evaluated), the
    best step's dev value, and the best checkpoint's test value (``test_metrics``: ``<split>/<measure>``)."""
    by_step = {int(e["step"]): e for e in evaluations if "step" in e}
    start = by_step.get(0)
    best = by_step.get(best_step) if best_step is not None else None

    def measures_of(record: Mapping[str, Any] | None, prefix: str) -> dict[str, float]:
        if not record:
            return {}
        return {k[len(prefix):]: float(v) for k, v in record.items() if k.startswith(prefix)
                and k[len(prefix):] not in _NOT_MEASURES and isinstance(v, (int, float))}

    dev_best = measures_of(best, "dev/")
    dev_start = measures_of(start, "dev/") if start is not None and start is not best else {}
    test: dict[str, float] = {}
    if test_metrics:
        prefix = f"{test_split}/" if test_split else next(iter(test_metrics)).partition("/")[0] + "/"
        test = measures_of(test_metrics, prefix)
        test_split = prefix[:-1]
    names = list(dict.fromkeys([*dev_best, *dev_start, *test]))
    columns = ["measure"]
    sources: list[dict[str, float]] = []
    if dev_start:
        columns.append(f"{eval_split} start (step 0)")
        sources.append(dev_start)
    if dev_best or best_step is not None:
        columns.append(f"{eval_split} best (step {best_step})")
        sources.append(dev_best)
    if test:
        columns.append(f"{test_split} (best checkpoint)")
        sources.append(test)
    return columns, [[name, *(source.get(name) for source in sources)] for name in names]


def report_training(result: Any, *, eval_metric: str, eval_split: str, test_split: str | None,
                    best_dir: Path, last_dir: Path, run_dir: Path) -> str:
    """Log (and return) the end-of-training report of a :class:`~gradedpr.train.trainer.TrainResult`."""
    evaluations = list(result.evaluations)
    columns, rows = metrics_table(evaluations, result.best_step, result.test_metrics or None,
                                  eval_split=eval_split, test_split=test_split)
    metric = f"dev/{eval_metric}"
    lines = [f"training finished: {result.steps} steps in {result.seconds / 60:.1f} min"]
    if evaluations:
        first, last = evaluations[0], evaluations[-1]
        lines.append(f"{eval_metric} on {eval_split}: step {first['step']} = {rounded(first.get(metric))} -> "
                     f"step {last['step']} = {rounded(last.get(metric))} (best {rounded(result.best_metric)} "
                     f"at step {result.best_step})")
    if rows:
        lines += ["", format_table(columns, rows), ""]
    lines.append(f"checkpoints: {best_dir} (best), {last_dir} (last)")
    lines.append(f"run directory: {run_dir}  |  skipped queries without a positive: {result.skipped_queries}")
    text = "\n".join(lines)
    log.info("%s", text)
    return text


def _writes(handler: logging.Handler, path: Path) -> bool:
    name = getattr(handler, "baseFilename", None)
    return name is not None and Path(name).resolve() == path.resolve()


@contextmanager
def run_log_file(run_dir: Path, name: str = TRAIN_LOG) -> Iterator[Path]:
    """Inside the block, gradedpr's log records (INFO and up) are also appended to ``run_dir/<name>``, unless a
    handler already writes that file (Hydra's job logging does for ``scripts/train.py``). When the application
    has configured logging (Hydra has: console and file), Python warnings (``warnings.warn`` of torch,
    transformers, ...) go through it too, so they land in the file as well; otherwise they stay on stderr."""
    path = Path(run_dir) / name
    root = logging.getLogger()
    with _warnings_logged() if root.handlers else nullcontext():
        if any(_writes(h, path) for h in root.handlers):
            yield path
            return
        with _file_handler(path):
            yield path


@contextmanager
def _warnings_logged() -> Iterator[None]:
    already = getattr(logging, "_warnings_showwarning", None) is not None  # captureWarnings(True) in force
    logging.captureWarnings(True)
    try:
        yield
    finally:
        if not already:
            logging.captureWarnings(False)


@contextmanager
def _file_handler(path: Path) -> Iterator[None]:
    root = logging.getLogger()
    path.parent.mkdir(parents=True, exist_ok=True)
    # a log is appended line by line (like metrics.jsonl), not replaced atomically
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    package = logging.getLogger("gradedpr")
    previous = package.level
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        package.setLevel(previous)
