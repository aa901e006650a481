"""A process killed while it writes a checkpoint leaves a loadable ``checkpoints/last`` (issue 9, item 3).

``atomic_directory`` used to swap directories with two renames, so for an instant there was no ``last`` at
all, and the temporary directories of killed writes were never deleted (368 MB of orphans after 25 kills).
Now the new directory is exchanged with the old one in one atomic rename, the next write deletes what
killed writes left, and where exchanging is impossible the old directory set aside for that instant is
put back by the next write or load.

The writers here are separate processes that import only ``gradedpr.utils.atomic`` (no torch, so each
starts in a fraction of a second) and copy a real checkpoint's files; the checks load it with
``BiEncoder.from_pretrained``.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gradedpr.model.biencoder import CHECKPOINT, BiEncoder
from gradedpr.utils.atomic import atomic_directory

INFO = "training_info.json"

WRITER = """
import json, os, shutil, sys
from pathlib import Path
import gradedpr.utils.atomic as atomic

template, target, crash = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

copies = 0

def copy(src, dst, **kwargs):
    global copies
    copies += 1
    if crash.startswith("at-copy-") and copies == int(crash[len("at-copy-"):]):
        os.kill(os.getpid(), 9)  # SIGKILL at the n-th file this process copies: the same instant on any load
    return shutil.copy2(src, dst, **kwargs)

def write(step):
    with atomic.atomic_directory(target) as tmp:
        shutil.copytree(template, tmp, dirs_exist_ok=True, copy_function=copy)
        (tmp / "training_info.json").write_text(json.dumps({"step": step}))

if crash == "loop" or crash.startswith("at-copy-"):  # until killed
    print("ready", flush=True)
    step = 0
    while True:
        step += 1
        write(step)

write(1)
if crash == "while-building":  # killed while the new directory is half written
    real_fsync = os.fsync
    def fsync(fd):
        os._exit(9)
    os.fsync = fsync
elif crash == "after-exchange":  # killed right after the swap, before the old directory is deleted
    real_exchange = atomic._exchange
    def exchange(a, b):
        assert real_exchange(a, b)
        os._exit(9)
    atomic._exchange = exchange
elif crash == "between-renames":  # no exchange: killed between renaming the old away and the new in
    atomic._exchange = lambda a, b: False
    real_replace = os.replace
    def replace(src, dst):
        if Path(dst) == target and Path(src).name.endswith(".tmp"):
            os._exit(9)
        real_replace(src, dst)
    os.replace = replace
write(2)
"""


@pytest.fixture(scope="module")
def template(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint with trainer state, as the trainer writes ``last``."""
    directory = tmp_path_factory.mktemp("template") / "ckpt"
    state = {"step": 7, "optimizer": {"state": {0: {"exp_avg": torch.ones(3)}}}}
    return BiEncoder.from_pretrained(tiny_model_dir, shared=True).save_pretrained(
        directory, extra_files={"trainer_state.pt": state, INFO: json.dumps({"step": 0})})


def writer(template: Path, target: Path, crash: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(template), str(target), crash],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def whole_copy(directory: Path, template: Path) -> int:
    """Assert ``directory`` is a complete copy of ``template`` (any step); return its step."""
    compared = filecmp.dircmp(directory, template, ignore=[INFO])
    pending = [compared]
    while pending:
        current = pending.pop()
        assert not current.left_only and not current.right_only, (current.left, current.left_only,
                                                                  current.right_only)
        _, mismatch, errors = filecmp.cmpfiles(current.left, current.right, current.common_files, shallow=False)
        assert not mismatch and not errors, (current.left, mismatch, errors)
        pending.extend(current.subdirs.values())
    return int(json.loads((directory / INFO).read_text())["step"])


def next_write(template: Path, target: Path) -> None:
    """The trainer's next save of ``last``; afterwards nothing but ``last`` is left in ``checkpoints/``."""
    with atomic_directory(target, CHECKPOINT) as tmp:
        shutil.copytree(template, tmp, dirs_exist_ok=True)
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_killed_at_every_file_of_three_writes_a_loadable_last_always_exists(template: Path, tmp_path: Path) -> None:
    """SIGKILLed while copying the 1st, 2nd, ... file of its writes (three writes' worth): deterministic
    instants inside and between the builds, whatever the machine's load (a random sleep used to decide)."""
    target = tmp_path / "checkpoints" / "last"
    next_write(template, target)
    per_write = sum(1 for p in template.rglob("*") if p.is_file())
    orphans, steps = 0, []
    for kill_at in range(1, 3 * per_write + 1):
        process = writer(template, target, f"at-copy-{kill_at}")
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == -9, stderr
        steps.append(whole_copy(target, template))
        if kill_at % 6 == 0:
            assert BiEncoder.from_pretrained(target).config.shared
        orphans += sum(1 for p in target.parent.iterdir() if p.name != target.name)
        next_write(template, target)
    assert orphans == 3 * per_write  # every kill lands inside a build and leaves its temporary directory
    assert sorted(set(steps)) == [0, 1, 2]  # kills in the 1st write keep the old last, later ones the newest


@pytest.mark.parametrize("crash", ["while-building", "after-exchange", "between-renames"])
def test_killed_at_each_unsafe_point_last_loads_and_the_next_write_cleans_up(crash: str, template: Path,
                                                                             tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "last"
    process = writer(template, target, crash)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 9, stderr
    left = sorted(p.name for p in target.parent.iterdir() if p.name != target.name)
    assert left, "the crash left nothing behind: it did not happen where intended"
    if crash == "between-renames":
        assert not target.exists() and any(".last.old-" in name for name in left)
    model = BiEncoder.from_pretrained(target)  # puts a set-aside last back where needed
    assert model.config.shared
    assert whole_copy(target, template) == (2 if crash == "after-exchange" else 1)
    next_write(template, target)


def test_last_exists_at_every_moment_of_repeated_writes(template: Path, tmp_path: Path) -> None:
    """A watcher polls ``last`` as fast as it can while another process rewrites it again and again."""
    target = tmp_path / "checkpoints" / "last"
    next_write(template, target)
    config = target / "gradedpr.json"
    polls, misses = 0, 0
    process = writer(template, target, "loop")
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        polls += 1
        if not config.is_file():
            misses += 1
    process.kill()
    process.wait(timeout=30)
    assert whole_copy(target, template) > 3  # several writes happened while watched
    assert polls > 0 and misses == 0
