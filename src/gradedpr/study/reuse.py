"""Runs a study takes from another study instead of training them again (``study.regimes.<name>.reuse``).

A regime with ``reuse: <runs directory>`` (e.g. ``outputs/study/generalize/runs/all``), or ``reuse: {<loss>:
<runs directory>}`` for losses kept in different places, gets each of its planned runs ``<loss>-s<seed>`` from
there when the run there is finished and was trained with the same settings: the Hydra overrides it recorded
(``.hydra/overrides.yaml``) equal the planned run's, as a set, apart from the runner's own (output paths,
logger, progress bars, ``overwrite``). A finished source trained with other settings is an error (the study's
configuration is wrong); a run the source does not have is trained here. A run is a deterministic function of
its settings (a resumed run is bit-identical to an uninterrupted one), so the copy is the run the study would
train. The copy is a tree of hard links (no disk space), made in a temporary directory and renamed into place;
test scoring (``<split>/``, ``<split>_trained/``) is left behind, so that a blind study scores test itself, once.
``reused.json`` in the copy names its source.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gradedpr.errors import ConfigError
from gradedpr.study.plan import PlannedRun
from gradedpr.study.runner import is_finished
from gradedpr.utils.atomic import atomic_write_text

RUNNER_SETTINGS = ("run_dir=", "hydra.", "overwrite=", "logger=", "logger.", "show_progress=")
"""Overrides the study runner adds for its own bookkeeping: they do not change what a run trains."""
REUSED_FILE = "reused.json"


def training_settings(overrides: Iterable[str]) -> frozenset[str]:
    """The overrides that decide what a run trains (the runner's own left out)."""
    return frozenset(o for o in overrides if not o.startswith(RUNNER_SETTINGS))


def reuse_runs(runs: Sequence[PlannedRun], regimes: Mapping[str, Mapping[str, Any]], split: str) -> int:
    """Copy every unfinished run whose regime names a finished source for it; returns how many were copied."""
    copied = 0
    for run in runs:
        reuse = regimes[run.regime].get("reuse")
        source_dir = reuse.get(run.loss) if isinstance(reuse, Mapping) else reuse
        if not source_dir or is_finished(run, split, blind=True):
            continue
        source = Path(str(source_dir)) / run.run_dir.name
        if not is_finished(PlannedRun(run.regime, run.loss, run.seed, (), source), split, blind=True):
            continue  # nothing finished to take: the run is trained here
        key = f"study.regimes.{run.regime}.reuse"
        recorded_file = source / ".hydra" / "overrides.yaml"
        if not recorded_file.is_file():
            raise ConfigError(f"{key}: {recorded_file} missing: the settings {source} was trained with are unknown")
        recorded = training_settings(str(o) for o in yaml.safe_load(recorded_file.read_text(encoding="utf-8")))
        planned = training_settings(run.command("python")[2:])
        if recorded != planned:
            raise ConfigError(f"{key}: {source} was trained with other settings (only there: "
                              f"{sorted(recorded - planned)}; only here: {sorted(planned - recorded)})")
        _link_copy(source, run.run_dir, split)
        copied += 1
    return copied


def _link_copy(source: Path, target: Path, split: str) -> None:
    if target.exists():
        shutil.rmtree(target)  # an unfinished run of this study's own (is_finished said so)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.reuse")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp, copy_function=os.link,
                    ignore=shutil.ignore_patterns(split, f"{split}_trained", ".lock"))
    atomic_write_text(tmp / REUSED_FILE, json.dumps({"from": str(source)}, indent=1) + "\n")
    os.replace(tmp, target)
