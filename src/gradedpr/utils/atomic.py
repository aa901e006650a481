"""Atomic writes: a crash leaves the old file (or directory) or the new one, never half of one.

Files are written to a temporary sibling, flushed and fsync'ed, then moved over the target with
``os.replace`` (atomic on POSIX within one file system). Directories are built in a temporary sibling
directory and exchanged with the target in one atomic rename (see :func:`atomic_directory`); the old
directory is removed only after the new one is in place, and what interrupted writes left is cleaned up.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

from gradedpr.utils.outputs import OutputKind, check_output_dir

try:
    import fcntl
except ImportError:  # not POSIX: no locks (the cleanup then also removes what a concurrent writer builds)
    fcntl = None  # type: ignore[assignment]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename inside it) to disk; a no-op where the OS does not allow it."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result gets the usual permissions
    binary = "b" in mode
    try:
        with open(tmp, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_directory(
    path: str | Path, kind: OutputKind | None = None, *, overwrite: bool = True
) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it takes the place of ``path``.

    The new directory is built in a sibling ``.<name>.<random>.tmp``, fsync'ed, and swapped with ``path``
    in one atomic ``renameat2(RENAME_EXCHANGE)``; the old one (now at the temporary name) is deleted after.
    So a reader -- or a process killed at any instant -- finds at ``path`` the complete old directory or the
    complete new one, never nothing and never a mix. Where the system cannot exchange (not Linux, or a file
    system without it) the old directory is renamed aside to ``.<name>.old-<random>`` for the instant
    before the new one is renamed in; :func:`recover_directory` (called by every later write and by the
    loaders) renames it back if a crash hit that instant.

    Each write first deletes what interrupted writes to ``path`` left next to it (siblings named
    ``.<name>.<8 chars>.tmp`` or ``.<name>.old-<8 chars>`` that no live writer holds; see
    :func:`recover_directory`). Writers of one parent directory take turns for that cleanup and the swap.

    An existing ``path`` is replaced only if gradedpr wrote it as a ``kind`` (its marker, nothing but that
    kind's entries and those of the new content; see :func:`~gradedpr.utils.outputs.check_output_dir`) and
    ``overwrite`` allows it; otherwise :class:`~gradedpr.errors.OutputError` is raised -- before anything is
    written when the directory is plainly not ``kind``, at the latest before anything is replaced. Without
    a ``kind`` the caller has made sure that an existing ``path`` is its own.
    """
    target = Path(path)
    if kind is not None:
        check_output_dir(target, kind, overwrite=overwrite, also=None)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _parent_lock(target.parent):
        _recover(target, clean=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        holder = _hold(tmp)  # marks the temporary directory as in use until this write ends
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        yield tmp
        _fsync_tree(tmp)
        if kind is not None:
            check_output_dir(target, kind, overwrite=overwrite, also=[child.name for child in tmp.iterdir()])
        with _parent_lock(target.parent):
            old = _swap_in(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        _release(holder)


def recover_directory(path: str | Path) -> None:
    """Make sure ``path`` is there if a write of it was interrupted at the one instant it was not.

    Only needed where :func:`atomic_directory` cannot exchange directories atomically: a crash between its
    two renames leaves the complete old directory at ``.<name>.old-*``; it is renamed back. A no-op (and no
    lock taken) when ``path`` exists or nothing was set aside. The checkpoint and index loaders call this.
    """
    target = Path(path)
    if target.exists() or not target.parent.is_dir() or not _set_aside(target):
        return
    with _parent_lock(target.parent):
        _recover(target, clean=False)


# ---------------------------------------------------------------------------------------------- internals
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _orphan_pattern(name: str) -> re.Pattern[str]:
    """Siblings that writes of ``name`` create: ``.<name>.<mkdtemp's 8 chars>.tmp`` / ``.<name>.old-<8>``."""
    return re.compile(re.escape(f".{name}.") + r"(?:[a-z0-9_]{8}\.tmp|old-[a-z0-9_]{8})")


def _set_aside(target: Path) -> list[Path]:
    """``.<name>.old-*`` directories next to ``target``, newest first."""
    pattern = _orphan_pattern(target.name)
    found = [p for p in target.parent.iterdir()
             if p.name.startswith(f".{target.name}.old-") and pattern.fullmatch(p.name) and _is_real_dir(p)]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _recover(target: Path, clean: bool) -> None:
    """(Parent lock held.) Rename a set-aside old directory back when ``target`` is missing; with ``clean``,
    delete the siblings earlier interrupted writes of ``target`` left that no live writer holds."""
    if not target.exists():
        aside = _set_aside(target)
        if aside:
            os.replace(aside[0], target)
            fsync_dir(target.parent)
    if not clean:
        return
    pattern = _orphan_pattern(target.name)
    for sibling in target.parent.iterdir():
        if not pattern.fullmatch(sibling.name) or not _is_real_dir(sibling):
            continue
        holder = _hold(sibling, wait=False)
        if holder is None:  # a live writer builds it
            continue
        try:
            shutil.rmtree(sibling, ignore_errors=True)
        finally:
            _release(holder)


def _swap_in(tmp: Path, target: Path) -> Path | None:
    """(Parent lock held.) Put ``tmp`` at ``target``; returns where the old directory now is, to delete."""
    if target.exists() or target.is_symlink():
        if _exchange(tmp, target):
            fsync_dir(target.parent)
            return tmp
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(old, target)
            raise
        fsync_dir(target.parent)
        return old
    os.replace(tmp, target)
    fsync_dir(target.parent)
    return None


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no such libc function (glibc < 2.28, musl)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(Callable[..., int], function)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False where the system or the file system cannot."""
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (and ``root``), so a swapped-in directory is durable."""
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            file_path = os.path.join(directory, name)
            if not os.path.islink(file_path):
                with open(file_path, "rb") as handle:
                    os.fsync(handle.fileno())
        fsync_dir(Path(directory))


def _hold(path: Path, wait: bool = True) -> int | None:
    """An exclusive ``flock`` on directory ``path`` (released by :func:`_release` or when the process dies):
    its fd, or None if another holder has it and not ``wait``. Where locks are unavailable, a no-op fd."""
    fd = os.open(path, os.O_RDONLY)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:  # a file system without flock: no coordination, but no failure either
        pass
    return fd


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock


@contextlib.contextmanager
def _parent_lock(parent: Path) -> Iterator[None]:
    """Writers of one directory take turns to clean up, create their temporary and swap (short sections)."""
    fd = _hold(parent)
    try:
        yield
    finally:
        _release(fd)
