"""What a study runs: one training run per (regime, loss, seed) with the regime's shared overrides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradedpr.errors import ConfigError


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the study; ``run_dir`` is where ``scripts/train.py`` writes it."""

    regime: str
    loss: str
    seed: int
    overrides: tuple[str, ...]
    run_dir: Path

    @property
    def name(self) -> str:
        return f"{self.regime}-{self.loss}-s{self.seed}"

    def command(self, python: str, script: str = "scripts/train.py") -> list[str]:
        # overwrite=true: an unfinished run of the study's own (killed, failed) is trained again from the start;
        # finished runs are never launched again (runner.is_finished)
        return [python, script, *self.overrides, f"loss={self.loss}", f"seed={self.seed}",
                f"run_dir={self.run_dir}", f"hydra.run.dir={self.run_dir}", "overwrite=true", "logger=none",
                "show_progress=false"]


def plan_runs(regimes: Mapping[str, Mapping[str, Any]], output: str | Path, data: str, split: str) -> list[PlannedRun]:
    """Every (regime, loss, seed) of ``regimes`` (name -> {overrides, losses, seeds}), in that order.

    Every run of a regime gets the same overrides (identical budget and hyper-parameters), the study's data
    and ``train.test_split``: the best-dev checkpoint is evaluated once on the test split after training.
    """
    runs: list[PlannedRun] = []
    for regime, spec in regimes.items():
        for key in ("losses", "seeds"):
            if not spec.get(key):
                raise ConfigError(f"study.regimes.{regime}.{key} must be a non-empty list")
        overrides: Sequence[str] = [str(o) for o in spec.get("overrides") or []]
        for loss in spec["losses"]:
            for seed in spec["seeds"]:
                run_dir = Path(output) / "runs" / regime / f"{loss}-s{int(seed)}"
                full = (*overrides, f"data={data}", f"train.test_split={split}")
                runs.append(PlannedRun(regime, str(loss), int(seed), full, run_dir))
    return runs
