"""Helpers of the reliability tests: run the real command-line tools, check their one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit status 2, no traceback, and one ``error:`` line holding every fragment."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
