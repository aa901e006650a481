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
    tool: str = "gradedpr"  # or sentence_transformers (scripts/st_baseline.py)
    logger: tuple[str, ...] = ("logger=none",)  # the training runs' logger overrides (see :func:`logger_overrides`)
    after: Path | None = None  # a run that must finish first (its checkpoints/best is this run's start model)

    @property
    def name(self) -> str:
        return f"{self.regime}-{self.loss}-s{self.seed}"

    def command(self, python: str, script: str = "scripts/train.py") -> list[str]:
        if self.tool == "sentence_transformers":
            return [python, "scripts/st_baseline.py", *self.overrides, f"loss={self.loss}", f"seed={self.seed}",
                    f"run_dir={self.run_dir}"]
        # overwrite=true: an unfinished run of the study's own (killed, failed) without a last checkpoint to
        # resume from is trained again from the start; finished runs are never launched again (runner.is_finished)
        return [python, script, *self.overrides, f"loss={self.loss}", f"seed={self.seed}",
                f"run_dir={self.run_dir}", f"hydra.run.dir={self.run_dir}", "overwrite=true", *self.logger,
                "show_progress=false"]


def logger_overrides(logger: str, study: str) -> tuple[str, ...]:
    """The study's ``logger`` setting as overrides of its training runs: ``none`` (only metrics.jsonl), or
    ``wandb``: every run of the study in one wandb group named after the study."""
    if logger not in ("none", "wandb"):
        raise ConfigError(f"logger={logger!r}: must be none or wandb (the study's training runs' logger)")
    return ("logger=none",) if logger == "none" else ("logger=wandb", f"logger.group=study-{study}")


def plan_runs(regimes: Mapping[str, Mapping[str, Any]], output: str | Path, data: str, split: str,
              logger: Sequence[str] = ("logger=none",), blind: bool = False) -> list[PlannedRun]:
    """Every (regime, loss, seed) of ``regimes`` (name -> {overrides, losses, seeds, optional data, tool}), in
    that order; ``logger``: the training runs' logger overrides (:func:`logger_overrides`).

    Every run of a regime gets the same overrides (identical budget and hyper-parameters) and the study's data
    (or the regime's own ``data``); ``loss_overrides`` (loss -> overrides) adds a loss's own hyper-parameters
    (e.g. each surrogate at the temperature dev chose for it), so that several tuned losses share one regime and
    its paired tests against the regime's ``controls``; ``start_from: <regime>`` starts each run from the
    selected checkpoint (``checkpoints/best``) of the same loss and seed in that regime, once that run has
    finished (a two-stage recipe: the frozen regime, then both encoders from its query encoder). Without
    ``blind``, ``train.test_split`` too: the best-dev
    checkpoint is evaluated once on the test split after training. A ``blind`` study's runs see dev only; their
    test values are computed apart (:func:`gradedpr.study.blind.score_test`) once every choice is frozen.
    """
    runs: list[PlannedRun] = []
    for regime, spec in regimes.items():
        for key in ("losses", "seeds"):
            if not spec.get(key):
                raise ConfigError(f"study.regimes.{regime}.{key} must be a non-empty list")
        overrides: Sequence[str] = [str(o) for o in spec.get("overrides") or []]
        per_loss: Mapping[str, Sequence[str]] = spec.get("loss_overrides") or {}
        unknown = sorted(set(per_loss) - {str(loss) for loss in spec["losses"]})
        if unknown:
            raise ConfigError(f"study.regimes.{regime}.loss_overrides: {', '.join(unknown)} not in the regime's "
                              "losses")
        for loss in spec["losses"]:
            for seed in spec["seeds"]:
                run_dir = Path(output) / "runs" / regime / f"{loss}-s{int(seed)}"
                after = None
                if spec.get("start_from"):
                    source = str(spec["start_from"])
                    if source not in regimes or source == regime:
                        raise ConfigError(f"study.regimes.{regime}.start_from={source!r}: not another regime of "
                                          "the study")
                    after = Path(output) / "runs" / source / f"{loss}-s{int(seed)}"
                full = (*overrides, *[str(o) for o in per_loss.get(str(loss)) or []],
                        *([f"model.name_or_path={after / 'checkpoints' / 'best'}"] if after else []),
                        f"data={spec.get('data') or data}",
                        *([] if blind else [f"train.test_split={split}"]))
                tool = str(spec.get("tool") or "gradedpr")
                if tool == "sentence_transformers":  # its own settings only: data and the regime's
                    full = (f"data={spec.get('data') or data}", *[str(o) for o in spec.get("st_overrides") or []])
                runs.append(PlannedRun(regime, str(loss), int(seed), full, run_dir, tool, tuple(logger), after))
    return runs


def seed_major(runs: Sequence[PlannedRun], regimes: Mapping[str, Mapping[str, Any]]) -> list[PlannedRun]:
    """``runs`` with every regime's first seed first, then the second seeds...: a study stopped half way has
    one seed of every row rather than every seed of a few rows."""
    def position(run: PlannedRun) -> int:
        return [int(s) for s in regimes[run.regime]["seeds"]].index(run.seed)

    return sorted(runs, key=position)
