"""Metric logging: always ``metrics.jsonl`` in the run directory; wandb as well unless ``logger=none``.

wandb runs ``mode: offline`` by default (no network); sync later with ``wandb sync <run_dir>/wandb/offline-run-*``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Appends one JSON object per ``log`` call to ``metrics.jsonl`` and mirrors it to wandb when enabled."""

    def __init__(self, run_dir: str | Path, wandb_cfg: Mapping[str, Any] | None, config: Mapping[str, Any]) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wandb: Any = None
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

    def log(self, values: Mapping[str, Any], step: int) -> None:
        record = {"step": step, **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
        if self._wandb is not None:
            self._wandb.log(dict(values), step=step)

    def summary(self, values: Mapping[str, Any]) -> None:
        if self._wandb is not None:
            for key, value in values.items():
                self._wandb.summary[key] = value

    def close(self) -> None:
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
