"""Dropping this process's resident pages of memory-mapped, read-only files (Linux).

Reading a memory-mapped file, such as the arrow file behind a :class:`~gradedpr.data.corpus.Corpus`, maps the
pages read into the process: they count in its RSS (``RssFile``, hence the peak ``VmHWM``) for as long as the
mapping lives, although they are page cache the kernel could drop at any time. A streaming pass over a corpus
would thus end with the whole file in the process's RSS. ``madvise(MADV_DONTNEED)`` on a read-only file
mapping takes the pages out of the process without losing anything: the next access maps them in again from
the page cache (or reads the file). Mappings that can be written are never advised (dropping a written private
page would lose the write). Elsewhere than on Linux, :func:`release_mapped_pages` does nothing.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

_MAPS = Path("/proc/self/maps")
_MADV_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)


def _madvise() -> Callable[[int, int, int], int] | None:
    """libc's ``madvise``, or None when it cannot be found."""
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    madvise: Callable[[int, int, int], int] = function
    return madvise


_madvise_function = _madvise() if sys.platform.startswith("linux") else None


def release_mapped_pages(paths: Iterable[str | Path]) -> int:
    """Drop this process's resident pages of its read-only mappings of the files ``paths``.

    Returns the bytes of mapping advised (0 when no such mapping exists or the platform lacks the means).
    The data stays readable; pages come back on the next access.
    """
    if _madvise_function is None or _MADV_DONTNEED is None:
        return 0
    wanted = {os.path.realpath(path) for path in paths}
    if not wanted:
        return 0
    try:
        lines = _MAPS.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0
    released = 0
    for line in lines:
        fields = line.split(maxsplit=5)  # address perms offset dev inode pathname
        if len(fields) < 6 or fields[5] not in wanted or "w" in fields[1]:
            continue
        low, high = (int(bound, 16) for bound in fields[0].split("-"))
        if _madvise_function(low, high - low, _MADV_DONTNEED) == 0:
            released += high - low
    return released
