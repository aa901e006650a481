"""Metric logging: always ``metrics.jsonl`` in the run directory; wandb as well unless ``logger=none``.

wandb runs ``mode: offline`` by default (no network); sync later with ``wandb sync <run_dir>/wandb/offline-run-*``.
What a wandb run holds:

- **config**: the mapping the caller passes (``scripts/train.py``: the resolved Hydra config, nested as in
  ``config.yaml``);
- **history**: every ``log`` call at its step (``train/*`` each step, ``dev/*`` at every evaluation,
  ``<test split>/*`` after training);
- **summary**: the last value of every logged key (so the final dev metrics), what ``summary`` was given
  (steps, best step, best dev metric, test metrics) and ``best/dev/<measure>`` for the best checkpoint;
- **table** ``best_checkpoint/metrics`` (a ``wandb.Table``): one row per measure with the best checkpoint's dev
  value and, when a test split was run, its test value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gradedpr.filenames import METRICS_LOG
from gradedpr.utils.atomic import atomic_write_text

BEST_TABLE_KEY = "best_checkpoint/metrics"
_NOT_MEASURES = {"seconds"}
_NOT_SPLITS = {"dev", "train", "data"}


class MetricsLogger:
    """Appends one JSON object per ``log`` call to ``metrics.jsonl`` and mirrors it to wandb when enabled."""

    def __init__(self, run_dir: str | Path, wandb_cfg: Mapping[str, Any] | None, config: Mapping[str, Any]) -> None:
        self.path = Path(run_dir) / METRICS_LOG
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wandb: Any = None
        self._dev: dict[int, dict[str, float]] = {}  # step -> dev measure -> value
        self._summary: dict[str, Any] = {}
        self._last_step = 0
        if wandb_cfg and wandb_cfg.get("name", "none") == "wandb":
            os.environ.setdefault("WANDB_SILENT", "true")
            import wandb

            self._wandb = wandb.init(
                project=str(wandb_cfg.get("project", "gradedpr")),
                name=wandb_cfg.get("run_name"),
                mode=str(wandb_cfg.get("mode", "offline")),  # type: ignore[arg-type]
                dir=str(Path(run_dir)),
                config=dict(config),
                tags=list(wandb_cfg.get("tags") or []),
            )

    def keep_until(self, step: int | None) -> int:
        """Keep only the ``metrics.jsonl`` records of steps ``<= step`` (None: none at all), atomically; returns
        how many were kept. A resumed run calls this with the resumed step, so the steps it replays are not
        recorded twice; a line cut short by a kill is dropped."""
        kept: list[str] = []
        if step is not None and self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
                        kept.append(json.dumps(record, sort_keys=True) + "\n")
        if kept or self.path.exists():
            atomic_write_text(self.path, "".join(kept))
        return len(kept)

    def log(self, values: Mapping[str, Any], step: int) -> None:
        record = {"step": step, **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._last_step = max(self._last_step, step)
        dev = {k[len("dev/"):]: float(v) for k, v in values.items()
               if k.startswith("dev/") and isinstance(v, (int, float)) and k[len("dev/"):] not in _NOT_MEASURES}
        if dev:
            self._dev.setdefault(step, {}).update(dev)
        if self._wandb is not None:
            self._wandb.log(dict(values), step=step)

    def summary(self, values: Mapping[str, Any]) -> None:
        self._summary.update(values)
        if self._wandb is not None:
            for key, value in values.items():
                self._wandb.summary[key] = value

    def best_checkpoint_table(self) -> tuple[list[str], list[list[Any]]]:
        """Columns and rows of the best checkpoint's metrics: measure, dev at the best step, other splits.

        The best step is the ``best_step`` given to :meth:`summary`; other splits are the ``<split>/<measure>``
        summary values (the test metrics of the best checkpoint). Empty when no best step is known.
        """
        best = self._summary.get("best_step")
        dev = self._dev.get(best, {}) if isinstance(best, int) else {}
        splits: dict[str, dict[str, float]] = {}
        for key, value in self._summary.items():
            split, sep, measure = key.partition("/")
            if sep and split not in _NOT_SPLITS and measure not in _NOT_MEASURES and isinstance(value, (int, float)):
                splits.setdefault(split, {})[measure] = float(value)
        if not dev and not splits:
            return [], []
        measures = list(dict.fromkeys([*dev, *(m for values in splits.values() for m in values)]))
        columns = ["measure", f"dev (step {best})", *splits]
        rows = [[m, dev.get(m), *(values.get(m) for values in splits.values())] for m in measures]
        return columns, rows

    def close(self) -> None:
        if self._wandb is not None:
            import wandb

            columns, rows = self.best_checkpoint_table()
            if rows:
                header: list[str | int] = list(columns)
                self._wandb.log({BEST_TABLE_KEY: wandb.Table(columns=header, data=rows)}, step=self._last_step)
                for measure, value in self._dev.get(self._summary.get("best_step", -1), {}).items():
                    self._wandb.summary[f"best/dev/{measure}"] = value
            self._wandb.finish()
            self._wandb = None
