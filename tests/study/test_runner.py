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
resumed = any(a.startswith("resume_from=") for a in args)  # an earlier process trained 10 minutes
(run_dir / "train_summary.json").write_text(json.dumps({{"seconds_before_resume": 600.0}} if resumed else {{}}))
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
    (interrupted.run_dir / "console.log").write_text("first session\n")
    (done.run_dir / "checkpoints" / "best").mkdir(parents=True)
    (done.run_dir / "train_summary.json").write_text("{}")
    execute(runs, "test", python=str(fake), jobs=2, blind=True)
    resumed = json.loads((interrupted.run_dir / "argv.json").read_text())
    assert f"resume_from={interrupted.run_dir / 'checkpoints' / 'last'}" in resumed
    assert (interrupted.run_dir / "console.log").read_text() == "first session\ntrained\n"  # appended, not replaced
    assert not (fresh.run_dir / "train.log").exists()  # train.py's own log: the console is not copied into it
    started = json.loads((fresh.run_dir / "argv.json").read_text())
    assert not any(a.startswith("resume_from=") for a in started) and "train.test_split=test" not in started
    assert not (done.run_dir / "argv.json").exists()  # finished: not run again
    assert all(is_finished(r, "test", blind=True) for r in runs)
    # a resumed run's minutes include its earlier processes' training time, not only its last segment's
    walls = {r.name: json.loads((r.run_dir / "study_wall.json").read_text())["seconds"] for r in (interrupted, fresh)}
    assert walls[interrupted.name] >= 600.0 > walls[fresh.name]


def test_a_second_stage_starts_from_the_first_stages_checkpoint_once_it_finished(tmp_path: Path) -> None:
    """``start_from``: each run of the second stage starts from the same loss and seed's selected checkpoint of
    the first, and only once that run finished (with two jobs, the first stage's run is not yet done when a slot
    is free); a second stage whose first stage fails is reported, not started."""
    import pytest

    from gradedpr.errors import ConfigError, StudyRunError

    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_TRAIN.format(python=sys.executable).replace(
        'print("trained")', 'import time; time.sleep(0.3 if "stage=1" in args else 0)\nprint("trained")'))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    regimes = {"two": {"overrides": ["stage=2"], "losses": ["nll"], "seeds": [1], "start_from": "one"},
               "one": {"overrides": ["stage=1"], "losses": ["nll"], "seeds": [1]}}
    second, first = plan_runs(regimes, tmp_path / "study", "toy", "test", blind=True)
    assert second.after == first.run_dir
    execute([second, first], "test", python=str(fake), jobs=2, blind=True)  # the second stage listed first
    argv = json.loads((second.run_dir / "argv.json").read_text())
    assert f"model.name_or_path={first.run_dir / 'checkpoints' / 'best'}" in argv
    assert (first.run_dir / "train_summary.json").stat().st_mtime <= (second.run_dir / "argv.json").stat().st_mtime
    with pytest.raises(ConfigError, match="start_from='nowhere': not another regime"):
        plan_runs({"two": {"losses": ["nll"], "seeds": [1], "start_from": "nowhere"}}, tmp_path, "toy", "test")
    broken = tmp_path / "broken_python"
    broken.write_text(f"#!{sys.executable}\nimport sys\nprint('error: no such setting')\nsys.exit(3)\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    again = plan_runs(regimes, tmp_path / "again", "toy", "test", blind=True)
    with pytest.raises(StudyRunError, match=r"2 study run\(s\) failed: .*console.log: error: no such setting\)"):
        execute(again, "test", python=str(broken), jobs=2, blind=True)
