"""Which directories gradedpr may replace or delete: only the ones it wrote itself.

Every kind of output directory gradedpr writes whole (a checkpoint, an index, the built-in collection) has a
*marker* file -- a JSON object with gradedpr's format fields -- and a known set of entries. An existing
directory may be replaced only when it is empty, or carries the marker and holds nothing but entries of
that kind (plus those of the new content that replaces it); anything else is a user's directory and is
refused with :class:`~gradedpr.errors.OutputError`, never deleted. Replacing a complete output of gradedpr's
can be refused too (``overwrite=False``), so that the command-line tools replace earlier results only when
asked to (``overwrite=true``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gradedpr.errors import OutputError

_ATOMIC_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
"""Temporary files of :func:`~gradedpr.utils.atomic.atomic_open` (``.<name>.<8 random chars>.tmp``)."""

_SHOWN = 3


@dataclass(frozen=True)
class OutputKind:
    """A kind of output directory: what to call it, its marker file and the fields the marker must hold,
    and the top-level names such a directory may hold besides the marker."""

    what: str
    marker: str
    fields: tuple[str, ...]
    names: frozenset[str] = frozenset()
    """Ownership is decided by the marker alone, never by names: a directory holding only entries named like
    this kind's but no marker is a user's (the built-in collection's BEIR files are a user's collection too)."""

    def is_marked(self, directory: Path) -> bool:
        """Whether ``directory`` holds this kind's marker: a JSON object with all of :attr:`fields`."""
        try:
            value = json.loads((directory / self.marker).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(value, dict) and all(key in value for key in self.fields)

    def foreign(self, directory: Path, also: Iterable[str] = ()) -> list[str]:
        """Entries of ``directory`` that this kind does not write (sorted): not the marker, not one of
        :attr:`names` or ``also``, and not an interrupted atomic write of one of them."""
        allowed = {self.marker, *self.names, *also}
        strange = []
        for entry in directory.iterdir():
            temp = _ATOMIC_TEMP.fullmatch(entry.name)
            if entry.name in allowed or (temp is not None and temp.group("name") in allowed):
                continue
            strange.append(entry.name)
        return sorted(strange)


def describe(names: list[str]) -> str:
    """``'a', 'b', 'c' and 2 more`` for an error message."""
    shown = ", ".join(repr(n) for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def check_output_dir(
    directory: str | Path, kind: OutputKind, *, overwrite: bool, also: Iterable[str] | None = ()
) -> bool:
    """Raise :class:`OutputError` unless gradedpr may (re)write ``directory`` as a whole ``kind``.

    Allowed: a missing or empty directory; with ``overwrite``, a directory that carries ``kind``'s marker
    and holds only entries of that kind or of ``also``, the names of the new content (``None`` = not known
    yet: entries are not judged). Returns True when such an output is there (so it will be replaced).
    """
    path = Path(directory)
    if not path.exists() and not path.is_symlink():
        return False
    if path.is_symlink() or not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory; choose another output path")
    if not any(path.iterdir()):
        return False
    if not kind.is_marked(path):
        raise OutputError(
            f"{path}: the directory is not empty and is not {kind.what} (no {kind.marker} of gradedpr's); "
            "gradedpr replaces only its own outputs: choose another output path"
        )
    strange = [] if also is None else kind.foreign(path, also)  # None: the new content's names are not known yet
    if strange:
        raise OutputError(
            f"{path}: holds {describe(strange)}, which gradedpr did not write; it will not replace the "
            "directory: move them away or choose another output path"
        )
    if not overwrite:
        raise OutputError(f"{path}: already holds {kind.what}; pass overwrite=true to replace it")
    return True


def check_result_files(directory: str | Path, names: Iterable[str], *, overwrite: bool, key: str = "output") -> None:
    """Raise :class:`OutputError` when ``directory`` already holds one of the files ``names`` that a command
    would write there and ``overwrite`` is off. The command replaces only those files; anything else in the
    directory is left alone, so no other check is needed."""
    path = Path(directory)
    existing = [name for name in names if (path / name).exists() or (path / name).is_symlink()]
    if existing and not overwrite:
        raise OutputError(
            f"{path}: already holds {describe(existing)}; pass overwrite=true to replace "
            f"{'it' if len(existing) == 1 else 'them'} (nothing else there is touched), or choose another {key}"
        )


@contextmanager
def removed_on_failure(run_dir: Path | None) -> Iterator[None]:
    """If the block fails, remove what it put into ``run_dir``: a failed start leaves no run directory behind.

    A directory that did not exist, or held only the log file this process writes (Hydra's ``<job>.log``, known
    by this process's logging handlers, not by its name), is removed; an empty one is emptied; one that held
    anything else is left as it is.
    """
    existed = run_dir is not None and run_dir.is_dir()
    before = set(os.listdir(run_dir)) if run_dir is not None and existed else set()
    own_logs = {Path(h.baseFilename).resolve() for h in logging.getLogger().handlers
                if isinstance(h, logging.FileHandler)}
    hydra_only = (run_dir is not None and bool(before)
                  and all((run_dir / name).resolve() in own_logs for name in before))
    try:
        yield
    except BaseException:
        if run_dir is not None and run_dir.is_dir():
            if not existed or hydra_only:
                shutil.rmtree(run_dir, ignore_errors=True)
            elif not before:
                for entry in run_dir.iterdir():
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
        raise
