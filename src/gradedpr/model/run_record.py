"""What a run directory says about a checkpoint: the :class:`TrainingRecord` a model card is written from.

Read from ``config.yaml`` (the resolved Hydra config), ``.hydra/overrides.yaml`` (the command-line overrides),
``metrics.jsonl`` (data sizes logged at step 0, dev evaluations), ``train_summary.json`` (best step, test
metrics of the best checkpoint) and the checkpoint's ``training_info.json`` (its step). Missing or damaged
files leave fields empty: a card leaves out what is not known rather than guessing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gradedpr.filenames import METRICS_LOG, RUN_CONFIG, TRAIN_SUMMARY, TRAINING_INFO


@dataclass
class TrainingRecord:
    """What is known about the run that produced a checkpoint; every field may be empty.

    ``evaluations`` are the trainer's records (``{"step": 30, "dev/ndcg@10": 0.61, ...}``), ``test_metrics``
    the best checkpoint's test results (``{"test/ndcg@10": ...}``), ``sizes`` counts such as ``documents``,
    ``train_queries``, ``skipped_queries``, ``dev_queries``, ``test_queries``.
    """

    config: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] | None = None
    step: int | None = None
    best_step: int | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)
    test_split: str | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- reading
def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def read_metrics_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a run's ``metrics.jsonl``, in order (none when the file is missing; a line cut short
    by a kill, or not an object, is skipped). The one reader of that file."""
    records: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
                if isinstance(record, dict):
                    records.append(record)
    except OSError:
        pass
    return records


def read_training_record(
    run_dir: str | Path | None,
    *,
    checkpoint: str | Path | None = None,
    step: int | None = None,
    best_step: int | None = None,
    evaluations: Sequence[Mapping[str, Any]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> TrainingRecord:
    """Collect what the run directory says about a checkpoint; explicit arguments win over the files.

    ``checkpoint`` (a saved checkpoint directory) supplies its step from ``training_info.json`` and decides
    whether the run's test metrics belong to it (they do only for the checkpoint that was tested).
    """
    record = TrainingRecord(settings=dict(settings or {}))
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None:
        info = read_json(ckpt / TRAINING_INFO)
        if isinstance(info, dict) and isinstance(info.get("step"), int):
            record.step = info["step"]
    if run_dir is None:
        run = None
    else:
        run = Path(run_dir)
        config = _read_yaml(run / RUN_CONFIG)
        record.config = config if isinstance(config, dict) else {}
        overrides = _read_yaml(run / ".hydra" / "overrides.yaml")
        if isinstance(overrides, list):
            record.overrides = [str(o) for o in overrides]
    records = read_metrics_records(run / METRICS_LOG) if run is not None else []
    for entry in records:
        for key, value in entry.items():
            if key.startswith("data/") and isinstance(value, int):
                record.sizes.setdefault(key[len("data/"):], value)
    summary = read_json(run / TRAIN_SUMMARY) if run is not None else None
    summary = summary if isinstance(summary, dict) else {}
    if evaluations is not None:
        record.evaluations = [dict(e) for e in evaluations]
    elif isinstance(summary.get("evaluations"), list):
        record.evaluations = [dict(e) for e in summary["evaluations"]]
    else:
        record.evaluations = [r for r in records if any(k.startswith("dev/") for k in r)]
    record.best_step = best_step if best_step is not None else summary.get("best_step")
    if step is not None:
        record.step = step
    tested = summary.get("test_checkpoint")
    if ckpt is not None and tested and isinstance(summary.get("test"), dict) and _same_path(tested, ckpt):
        record.test_metrics = {str(k): float(v) for k, v in summary["test"].items()}
    train_cfg = record.config.get("train") or {}
    record.test_split = str(train_cfg["test_split"]) if train_cfg.get("test_split") else None
    return record


def _same_path(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- writing
