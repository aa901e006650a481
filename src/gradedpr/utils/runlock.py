"""One writer per run directory: an exclusive ``flock`` on ``<run_dir>/.lock`` held for a whole training.

The lock is taken by ``scripts/train.py`` (:func:`gradedpr.commands.train.run_training`) before it writes
anything into the run directory, and by :meth:`gradedpr.train.trainer.Trainer.train` (the same process may
hold it several times over). A second process that tries to train into, or resume, a run directory that is
held gets an :class:`~gradedpr.errors.OutputError` naming the directory and the PID of the holder (written
into the lock file). The kernel releases the lock when its holder exits or is killed, so a crashed run never
leaves a stale lock behind; the file itself stays (deleting a lock file races with the next locker).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from gradedpr.errors import OutputError

try:
    import fcntl
except ImportError:  # not POSIX: no protection against a second writer
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
_held: dict[Path, list[int]] = {}  # resolved run dir -> [fd, depth] of the locks this process holds


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"PID {text}" if text.isdigit() else "another process"


def _busy(run_dir: Path, fd: int) -> OutputError:
    return OutputError(
        f"{run_dir}: the run directory is in use by {_holder(fd)} (a training writes into it); wait for it to "
        "finish or stop it, or choose another run_dir"
    )


@contextlib.contextmanager
def hold_run_dir(run_dir: str | Path) -> Iterator[None]:
    """Hold the run directory's lock inside the block (creating the directory); OutputError when another
    process holds it. Re-entrant within one process."""
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy(path, fd) from None
            except OSError:  # a file system without flock: no coordination, but no failure either
                pass
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    _held[key] = [fd, 1]
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)  # releases the flock


def check_run_dir_free(run_dir: str | Path) -> None:
    """OutputError when another process holds ``run_dir``'s lock (a training is writing it); a no-op for a
    directory without a lock file or one this process holds."""
    path = Path(run_dir)
    if fcntl is None or not (path / LOCK_FILE).is_file() or path.resolve() in _held:
        return
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(path, fd) from None
    except OSError:
        pass
    finally:
        os.close(fd)


def run_of_checkpoint(checkpoint: str | Path) -> Path | None:
    """The run directory of ``<run>/checkpoints/<name>``, or None for a checkpoint outside a run."""
    path = Path(checkpoint).expanduser().absolute()
    return path.parent.parent if path.parent.name == "checkpoints" else None
