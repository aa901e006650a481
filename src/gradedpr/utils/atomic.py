"""Atomic writes: a crash leaves the old file (or directory) or the new one, never half of one.

Files are written to a temporary sibling, flushed and fsync'ed, then moved over the target with
``os.replace`` (atomic on POSIX within one file system). Directories are built in a temporary sibling
directory and swapped in with two renames; the old directory is removed only after the new one is in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from gradedpr.utils.outputs import OutputKind, check_output_dir


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

    If ``path`` already exists, it is renamed aside, the new directory renamed in, and only then is the old
    one deleted, so at every moment either the complete old or the complete new directory is at ``path``
    (or, for an instant between the two renames, at ``<path>.old-*`` from which it is restored on failure).

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
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        if kind is not None:
            check_output_dir(target, kind, overwrite=overwrite, also=[child.name for child in tmp.iterdir()])
        old: Path | None = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            old.rmdir()
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None:
                os.replace(old, target)
            raise
        fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
