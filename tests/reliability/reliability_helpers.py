"""Helpers of the reliability tests: run the real command-line tools, check their one-line errors."""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra

ROOT = Path(__file__).resolve().parents[2]


def beir_overrides(root: Path) -> list[str]:
    """Hydra overrides that point a command at a BEIR directory, quietly."""
    return [f"data.path={root}", "data.name=tiny", "data.builtin=false", "show_progress=false"]


def run_script(script: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``python scripts/<script> args...`` from the repository root, offline, one thread."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, f"scripts/{script}", *args, f"hydra.run.dir={tmp_path}/hydra"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str] | Outcome, *fragments: str) -> None:
    """Exit status 2, no traceback, and one ``error:`` line holding every fragment."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@dataclass
class Outcome:
    """What a command left: its exit status and what it printed (like ``subprocess.CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def environment(d: Path) -> dict[str, str]:
    return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "GRADEDPR_CACHE_DIR": str(d / "cache")}


def run_forked(script: str, args: list[str], d: Path) -> Outcome:
    """``python scripts/<script> args...`` in a child forked from this process: the script runs as
    ``__main__`` (Hydra, ``run_cli``) exactly as from the shell, without paying for the imports again.
    Hydra's run directory is ``d/hydra``; stdout and stderr go through files in ``d``."""
    out, err = d / "stdout.txt", d / "stderr.txt"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            out_fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err_fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out_fd, 1)
            os.dup2(err_fd, 2)
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            os.chdir(ROOT)
            os.environ.update(environment(d))
            # a fresh interpreter's Ctrl-C handler, unblocked: a library imported by an earlier test of this process may
            # have replaced it, and a fork inherits handlers (then a SIGINT would not raise KeyboardInterrupt)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            sys.argv = [str(ROOT / "scripts" / script), *args, f"hydra.run.dir={d}/hydra"]
            GlobalHydra.instance().clear()
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # what the interpreter would print for an uncaught exception
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return Outcome(os.waitstatus_to_exitcode(status), out.read_text(errors="replace"), err.read_text(errors="replace"))

