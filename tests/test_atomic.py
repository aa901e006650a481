"""Atomic writes: all or nothing, usual permissions, no temporary leftovers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gradedpr.utils.atomic import atomic_directory, atomic_open, atomic_write_text, recover_directory


def test_atomic_open_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "run.txt"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half of the new")
        raise RuntimeError("crash")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["run.txt"]
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"


def test_atomic_outputs_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "inner.txt").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_atomic_directory_swaps_whole_directories(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("v1")
    with pytest.raises(ValueError), atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("v2-partial")
        raise ValueError("crash")
    assert (target / "a.txt").read_text() == "v1"
    with atomic_directory(target) as tmp:
        (tmp / "b.txt").write_text("v2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_write_deletes_only_orphans_of_its_own_target_that_no_live_writer_holds(tmp_path: Path) -> None:
    import fcntl

    target = tmp_path / "ckpt"
    orphans = [tmp_path / ".ckpt.a1b2c3d4.tmp", tmp_path / ".ckpt.old-x_y_z_12"]
    kept = [tmp_path / ".ckpt.backup", tmp_path / ".other.a1b2c3d4.tmp", tmp_path / ".ckpt.live_000.tmp"]
    for directory in [*orphans, *kept]:
        directory.mkdir()
        (directory / "f").write_text("x")
    live = os.open(tmp_path / ".ckpt.live_000.tmp", os.O_RDONLY)
    try:
        fcntl.flock(live, fcntl.LOCK_EX)  # another process still writing
        with atomic_directory(target) as tmp:
            (tmp / "a.txt").write_text("v1")
    finally:
        os.close(live)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, *(p.name for p in kept)])


def test_without_rename_exchange_a_set_aside_directory_is_put_back(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import gradedpr.utils.atomic as atomic

    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("v1")
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("v2")
    assert (target / "a.txt").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    target.rename(tmp_path / ".ckpt.old-abcd_123")  # as a crash between the two renames leaves it
    recover_directory(target)
    assert (target / "a.txt").read_text() == "v2"
    recover_directory(target)  # nothing to do
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
