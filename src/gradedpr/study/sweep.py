"""A loss sweep (a Hydra multirun of ``scripts/train.py``, ``scripts/sweep.py``) reported by the study's own
aggregation (:mod:`gradedpr.study.aggregate`): each job directory is a run of regime ``sweep``, its loss read
from its ``config.yaml``, and the table, paired tests (each loss against ``nll`` when the sweep has it), CSV and
bar chart are the ones a study writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from gradedpr.errors import ConfigError
from gradedpr.filenames import RUN_CONFIG, TRAIN_SUMMARY
from gradedpr.study.aggregate import Row, add_tests, collect, markdown_table, rows_to_json, summary_csv
from gradedpr.study.plan import PlannedRun
from gradedpr.study.plots import plot_test
from gradedpr.utils.atomic import atomic_write_text

REGIME = "sweep"


def sweep_runs(sweep_dir: str | Path) -> list[PlannedRun]:
    """One run per finished job under ``sweep_dir`` (a directory holding ``config.yaml`` and
    ``train_summary.json``), named by its loss (the job folder when the config names none)."""
    runs = []
    for summary in sorted(Path(sweep_dir).glob(f"*/{TRAIN_SUMMARY}")):
        job = summary.parent
        config = _config(job / RUN_CONFIG)
        loss = config.get("loss")
        name = str(loss["name"]) if isinstance(loss, dict) and loss.get("name") is not None else job.name
        runs.append(PlannedRun(REGIME, name, int(config.get("seed") or 0), (), job))
    return runs


def _config(path: Path) -> dict[str, Any]:
    """A job's ``config.yaml`` as a mapping (empty when it is missing or no YAML mapping)."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def write_report(sweep_dir: str | Path, split: str = "test", n_permutations: int = 10000,
                 seed: int = 0) -> tuple[list[Row], Path]:
    """Write ``summary.csv``, ``summary.md``, ``summary.json`` and ``ndcg_by_loss.png`` into ``sweep_dir``."""
    out = Path(sweep_dir)
    rows = collect(sweep_runs(out), out, split)
    if not rows:
        raise ConfigError(f"sweep_dir={out}: no finished runs with a scored {split} split (*/{TRAIN_SUMMARY}, "
                          f"*/{split}/metrics.json)")
    add_tests(rows, n_permutations=n_permutations, seed=seed)
    atomic_write_text(out / "summary.csv", summary_csv(rows))
    atomic_write_text(out / "summary.md", markdown_table(rows))
    atomic_write_text(out / "summary.json", json.dumps({"rows": rows_to_json(rows)}, indent=1) + "\n")
    plot_test(rows, out / "ndcg_by_loss.png")
    return rows, out
