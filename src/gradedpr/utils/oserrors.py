"""Environment failures (a full disk, a read-only or unwritable directory) as one line naming path and cause.

Python reports them as ``OSError`` with an ``errno``; torch's ``torch.save`` and FAISS's ``write_index`` hide
the ``OSError`` of a failed write inside a ``RuntimeError`` (``[enforce fail at inline_container.cc:672] .
unexpected pos ...``: it never says "no space left"). :func:`write_failure` turns such an error back into an
``OSError`` for the path, guessing ``ENOSPC`` from the free space of its file system, so that the command-line
tools (:mod:`gradedpr.commands.cli`) print one line for every one of them.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

ENVIRONMENT_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
    errno.ENOTDIR, errno.EISDIR, errno.EIO, errno.EMFILE, errno.ENFILE,
})
"""Errors of the machine or the file system, not of gradedpr: reported in one line, exit status 2."""

NEARLY_FULL = 64 * 2**20
"""Free bytes below which a failed write is taken for a full disk."""


def is_environment_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS


def describe_os_error(exc: OSError) -> str:
    """``<path>: <cause> [ERRNO]`` (the path of the file or directory the system named, else the message)."""
    name = errno.errorcode.get(exc.errno or 0, "")
    cause = exc.strerror or str(exc)
    where = exc.filename if exc.filename is not None else None
    text = f"{os.fsdecode(where)}: {cause}" if where is not None else cause
    if exc.filename2 is not None:
        text += f" (-> {os.fsdecode(exc.filename2)})"
    return f"{text} [{name}]" if name else text


def write_failure(path: str | Path, exc: BaseException) -> OSError:
    """An ``OSError`` for a write to ``path`` that failed with ``exc`` (a library's wrapped I/O error):
    ``ENOSPC`` when its file system is (nearly) full, else ``EIO`` quoting the library's first line."""
    target = Path(path)
    probe = target if target.exists() else target.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        free = None
    if free is not None and free < NEARLY_FULL:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
    first = " ".join(str(exc).split())[:160]
    return OSError(errno.EIO, f"cannot write the file ({type(exc).__name__}: {first})", str(target))


def at_target(exc: OSError, tmp: Path, target: str | Path) -> OSError:
    """``exc`` with a path inside the temporary build directory ``tmp`` named as the same path in ``target``
    (the directory the user asked for; the temporary one is gone once the failed write is cleaned up)."""
    if exc.filename is None:
        return exc
    try:
        relative = Path(os.fsdecode(exc.filename)).relative_to(tmp)
    except ValueError:
        return exc
    return OSError(exc.errno, exc.strerror, str(Path(target) / relative))
