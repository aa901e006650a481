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
  value and, when a test split was run, its test value;
- **name, group, job type, tags**: the run directory's name, ``logger.group`` (the experiment, or the study
  that ran it), ``train``, and ``loss:<name>``, ``regime:<regime>``, ``data:<name>`` plus ``logger.tags``;
- **image** ``curves``: the run's ``curves.png`` (dev metric and training loss against step), when it exists;
- **artifact** (``logger.log_model=true``): the best checkpoint (else the last) as a ``model`` artifact.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gradedpr.filenames import CURVES_FILE, METRICS_LOG
from gradedpr.model.run_record import read_metrics_records
from gradedpr.utils.atomic import atomic_write_text

BEST_TABLE_KEY = "best_checkpoint/metrics"
CURVES_KEY = "curves"
JOB_TYPE = "train"
_NOT_MEASURES = {"seconds"}
_NOT_SPLITS = {"dev", "train", "data"}


def run_tags(config: Mapping[str, Any], extra: Sequence[str] = ()) -> list[str]:
    """``loss:<name>``, ``regime:<full|frozen>``, ``data:<name>`` from the run's config, then ``extra``."""
    def get(*keys: str) -> Any:
        node: Any = config
        for key in keys:
            node = node.get(key) if isinstance(node, Mapping) else None
        return node

    tags = [f"{prefix}:{value}" for prefix, value in (("loss", get("loss", "name")), ("regime", get("train", "regime")),
                                                      ("data", get("data", "name"))) if value]
    return list(dict.fromkeys([*tags, *(str(t) for t in extra)]))


def artifact_name(text: str) -> str:
    """``text`` with only the characters wandb allows in an artifact name (letters, digits, ``-_.``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text) or "run"


def wandb_init_kwargs(run_dir: str | Path, wandb_cfg: Mapping[str, Any], config: Mapping[str, Any]
                      ) -> dict[str, Any]:
    """What ``wandb.init`` is given: project, mode, directory, the run's config, and a run a person can find:
    name = the run directory's name (``logger.run_name`` replaces it), group = ``logger.group`` (the experiment
    or the study), job type, tags (:func:`run_tags`)."""
    return {
        "project": str(wandb_cfg.get("project", "gradedpr")),
        "name": str(wandb_cfg.get("run_name") or Path(run_dir).resolve().name),
        "group": wandb_cfg.get("group") or None,
        "job_type": str(wandb_cfg.get("job_type") or JOB_TYPE),
        "mode": str(wandb_cfg.get("mode", "offline")),
        "dir": str(Path(run_dir)),
        "config": dict(config),
        "tags": run_tags(config, list(wandb_cfg.get("tags") or [])),
    }


class MetricsLogger:
    """Appends one JSON object per ``log`` call to ``metrics.jsonl`` and mirrors it to wandb when enabled."""

    def __init__(self, run_dir: str | Path, wandb_cfg: Mapping[str, Any] | None, config: Mapping[str, Any]) -> None:
        self.path = Path(run_dir) / METRICS_LOG
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wandb: Any = None
        self._dev: dict[int, dict[str, float]] = {}  # step -> dev measure -> value
        self._summary: dict[str, Any] = {}
        self._last_step = 0
        self._log_model = False
        self.run_dir = Path(run_dir)
        if wandb_cfg and wandb_cfg.get("name", "none") == "wandb":
            os.environ.setdefault("WANDB_SILENT", "true")
            import wandb

            self._wandb = wandb.init(**wandb_init_kwargs(run_dir, wandb_cfg, config))
            self._log_model = bool(wandb_cfg.get("log_model", False))

    def keep_until(self, step: int | None) -> int:
        """Keep only the ``metrics.jsonl`` records of steps ``<= step`` (None: none at all), atomically; returns
        how many were kept. A resumed run calls this with the resumed step, so the steps it replays are not
        recorded twice; a line cut short by a kill is dropped."""
        kept: list[str] = []
        if step is not None:
            kept = [json.dumps(record, sort_keys=True) + "\n" for record in read_metrics_records(self.path)
                    if isinstance(record.get("step"), int) and record["step"] <= step]
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

    def log_checkpoint(self, checkpoint: str | Path | None = None) -> Path | None:
        """Upload ``checkpoint`` (default: ``checkpoints/best`` of the run, else ``checkpoints/last``) as a wandb
        artifact of type ``model`` named ``model-<run directory>``, alias ``best`` or ``last``; returns the
        directory uploaded (None: no wandb run or no checkpoint). Offline, the artifact waits in the offline run
        for ``wandb sync``."""
        if self._wandb is None:
            return None
        if checkpoint is None:
            candidates = [self.run_dir / "checkpoints" / name for name in ("best", "last")]
            checkpoint = next((c for c in candidates if (c / "gradedpr.json").is_file()), None)
        if checkpoint is None:
            return None
        import wandb

        directory = Path(checkpoint)
        best = self._summary.get("best_step")
        artifact = wandb.Artifact(name=f"model-{artifact_name(self.run_dir.name)}", type="model",
                                  metadata={"checkpoint": directory.name, "best_step": best,
                                            "best_dev_metric": self._summary.get("best_dev_metric"),
                                            "eval_metric": self._summary.get("eval_metric")})
        artifact.add_dir(str(directory))
        self._wandb.log_artifact(artifact, aliases=[directory.name, "latest"])
        return directory

    def close(self) -> None:
        if self._wandb is not None:
            import wandb

            columns, rows = self.best_checkpoint_table()
            if rows:
                header: list[str | int] = list(columns)
                self._wandb.log({BEST_TABLE_KEY: wandb.Table(columns=header, data=rows)}, step=self._last_step)
                for measure, value in self._dev.get(self._summary.get("best_step", -1), {}).items():
                    self._wandb.summary[f"best/dev/{measure}"] = value
            curves = self.run_dir / CURVES_FILE
            if curves.is_file():  # the picture of the run (written by train.curves before closing)
                self._wandb.log({CURVES_KEY: wandb.Image(str(curves))}, step=self._last_step)
            if self._log_model:
                self.log_checkpoint()
            self._wandb.finish()
            self._wandb = None
