"""The study runner: one process per run, finished runs skipped, an interrupted run resumed from its last
checkpoint (so a study continues across sessions), the runs of a blind study finished without test."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

from gradedpr.study.plan import plan_runs
from gradedpr.study.runner import execute, is_finished

FAKE_TRAIN = """#!{python}
import json, sys
from pathlib import Path
args = sys.argv[2:]  # [scripts/train.py, overrides...]
run_dir = Path(next(a.split("=", 1)[1] for a in args if a.startswith("run_dir=")))
(run_dir / "argv.json").write_text(json.dumps(args))
(run_dir / "checkpoints" / "best").mkdir(parents=True, exist_ok=True)
(run_dir / "train_summary.json").write_text("{{}}")
print("trained")
"""


def test_runner_resumes_interrupted_runs_and_skips_finished_ones(tmp_path: Path) -> None:
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_TRAIN.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    regimes = {"r": {"overrides": ["experiment=x"], "losses": ["nll"], "seeds": [1, 2, 3]}}
    runs = plan_runs(regimes, tmp_path / "study", "toy", "test", blind=True)
    interrupted, fresh, done = runs
    (interrupted.run_dir / "checkpoints" / "last").mkdir(parents=True)
    (interrupted.run_dir / "checkpoints" / "last" / "trainer_state.pt").write_bytes(b"state")
    (interrupted.run_dir / "train.log").write_text("first session\n")
    (done.run_dir / "checkpoints" / "best").mkdir(parents=True)
    (done.run_dir / "train_summary.json").write_text("{}")
    execute(runs, "test", python=str(fake), jobs=2, blind=True)
    resumed = json.loads((interrupted.run_dir / "argv.json").read_text())
    assert f"resume_from={interrupted.run_dir / 'checkpoints' / 'last'}" in resumed
    assert (interrupted.run_dir / "train.log").read_text() == "first session\ntrained\n"  # appended, not replaced
    started = json.loads((fresh.run_dir / "argv.json").read_text())
    assert not any(a.startswith("resume_from=") for a in started) and "train.test_split=test" not in started
    assert not (done.run_dir / "argv.json").exists()  # finished: not run again
    assert all(is_finished(r, "test", blind=True) for r in runs)
