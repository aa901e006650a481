"""What ``scripts/train.py`` may do with an existing run directory, and Hydra's record of the run.

A training writes into ``run_dir``: ``config.yaml``, ``metrics.jsonl``, ``train_summary.json``,
``checkpoints/best`` and ``checkpoints/last``, the test split's run. Into a directory that already holds a run
(finished or not) it writes only to continue that run (``resume_from=<run_dir>/checkpoints/last``) or when
asked to start a new one over it (``overwrite=true``); into a directory holding anything else only with
``overwrite=true``, and then it adds its files beside the user's (nothing of theirs is deleted). A
``checkpoints/best`` or ``checkpoints/last`` that is not a gradedpr checkpoint is refused before training,
``overwrite`` or not (it would be refused at the first save).

Hydra's own record of the run (``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml``) is written by
gradedpr once the run directory's lock is held (``configs/train.yaml`` sets ``hydra.output_subdir: null``), so
a second process that is refused never rewrites the record of the run it was refused for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradedpr.errors import OutputError
from gradedpr.filenames import RUN_CONFIG
from gradedpr.utils.outputs import describe
from gradedpr.utils.runlock import LOCK_FILE, check_run_dir_free, run_of_checkpoint

HYDRA_DIR = ".hydra"
CHECKPOINTS = "checkpoints"


def _ignored(name: str) -> bool:
    """What Hydra and the lock put into a run directory before the command runs."""
    return name in (HYDRA_DIR, LOCK_FILE) or name.endswith(".log")


def _same(a: Path, b: Path) -> bool:
    return a.expanduser().absolute().resolve() == b.expanduser().absolute().resolve()


def check_run_dir(run_dir: str | Path, *, resume_from: str | None, overwrite: bool) -> None:
    """Raise :class:`OutputError` unless a training may write into ``run_dir`` (see the module docstring)."""
    run = Path(run_dir)
    if not run.is_dir():
        return
    check_run_dir_free(run)  # a live training writes it: said first, with its PID
    for name in ("best", "last"):  # never replaced by a training, overwrite or not
        checkpoint = run / CHECKPOINTS / name
        if checkpoint.exists() or checkpoint.is_symlink():
            from gradedpr.model.biencoder import CHECKPOINT  # torch: only imported when there is one
            from gradedpr.utils.outputs import check_output_dir

            check_output_dir(checkpoint, CHECKPOINT, overwrite=True, also=None)
    entries = sorted(entry.name for entry in run.iterdir() if not _ignored(entry.name))
    source = run_of_checkpoint(resume_from) if resume_from else None
    continuing = source is not None and _same(source, run)
    if entries and not continuing and not overwrite:
        if (run / RUN_CONFIG).is_file() or (run / CHECKPOINTS).is_dir():
            raise OutputError(
                f"{run}: already holds a training run ({describe(entries)}); continue it with "
                f"resume_from={run / CHECKPOINTS / 'last'}, train a new run over it with overwrite=true, or "
                "choose another run directory"
            )
        raise OutputError(
            f"{run}: holds {describe(entries)}, which gradedpr did not write; choose another run directory, or "
            "pass overwrite=true to write the run beside them (nothing of theirs is deleted)"
        )


@dataclass(frozen=True)
class HydraRecord:
    """Hydra's record of a run (its three YAML files), written by :meth:`write` once the run is ours."""

    directory: Path
    files: dict[str, str]

    def write(self) -> None:
        from gradedpr.utils.atomic import atomic_write_text

        for name, text in self.files.items():
            atomic_write_text(self.directory / name, text)


def hydra_record(cfg: Any) -> HydraRecord | None:
    """The record Hydra would have written for this job (None outside a Hydra job)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    files = {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra})),
        "overrides.yaml": OmegaConf.to_yaml(hydra.overrides.task),
    }
    return HydraRecord(Path(str(hydra.runtime.output_dir)) / HYDRA_DIR, files)


def train_intact(run_dir: str | Path) -> str:
    """What a stopped training leaves usable, and how to go on (for :func:`gradedpr.commands.cli.run_cli`)."""
    import json

    from gradedpr.filenames import TRAINER_STATE, TRAINING_INFO

    last = Path(run_dir) / CHECKPOINTS / "last"
    if not (last / TRAINER_STATE).is_file():
        return (f"no checkpoint was saved yet in {run_dir}; start again (with overwrite=true if the run "
                "directory is kept)")
    try:
        step = f" (step {json.loads((last / TRAINING_INFO).read_text(encoding='utf-8'))['step']})"
    except (OSError, ValueError, KeyError, TypeError):
        step = ""
    return f"{last}{step} is intact; continue with the same command and resume_from={last}"


def index_intact(embeddings_dir: str | Path, output: str | Path) -> str:
    """What a stopped ``scripts/index.py`` leaves usable, and how to go on."""
    if not Path(embeddings_dir).is_dir():
        return f"nothing was encoded yet and {output} is as it was; run the same command again"
    return (f"the passages encoded so far are kept in {embeddings_dir} and {output} is as it was; run the same "
            "command again to continue from them")
