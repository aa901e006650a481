"""The on-disk arrow cache behind :class:`~gradedpr.data.corpus.Corpus`.

A validated corpus is written once as an arrow stream file (the format ``datasets`` memory-maps) and opened
with ``datasets.Dataset.from_file``; nothing goes through the network or the HF hub cache, so it works with
``HF_DATASETS_OFFLINE=1``. The file name holds a fingerprint of the source files: their resolved paths,
sizes, modification times and contents (files up to 256 MiB are hashed whole, larger ones by their first and
last MiB), plus :data:`CACHE_VERSION`. A changed source thus gets a new cache file and is validated again;
the stale file of the same source is deleted. Files are written atomically, so an interrupted build leaves no
cache entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import datasets
import pyarrow as pa

from gradedpr.data.corpus import COLUMNS, Corpus
from gradedpr.errors import DataError
from gradedpr.utils.atomic import atomic_open

CACHE_VERSION = 2  # 2: ids with whitespace refused (corpora cached before are validated again)
"""Bump when validation rules or the cached layout change: every cache entry is then rebuilt."""

_WHOLE_FILE_HASH_LIMIT = 256 << 20
_SAMPLE = 1 << 20
_BATCH_ROWS = 4096
_SCHEMA = pa.schema([(column, pa.string()) for column in COLUMNS])


def default_cache_dir() -> Path:
    """``$GRADEDPR_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradedpr``, else ``~/.cache/gradedpr``."""
    explicit = os.environ.get("GRADEDPR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gradedpr"


def _hash_content(path: Path, size: int, digest: hashlib.blake2b) -> None:
    with open(path, "rb") as handle:
        if size <= _WHOLE_FILE_HASH_LIMIT:
            for block in iter(lambda: handle.read(_SAMPLE), b""):
                digest.update(block)
        else:
            digest.update(handle.read(_SAMPLE))
            handle.seek(size - _SAMPLE)
            digest.update(handle.read(_SAMPLE))


def source_fingerprint(kind: str, sources: Sequence[Path]) -> str:
    """A hex key that changes when any source file (or the loader ``kind``, or :data:`CACHE_VERSION`) does."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{kind}\0{CACHE_VERSION}\0".encode())
    for source in sources:
        stat = source.stat()
        digest.update(f"{source.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        _hash_content(source, stat.st_size, digest)
    return digest.hexdigest()


def cache_path(cache_dir: Path, kind: str, sources: Sequence[Path], fingerprint: str) -> Path:
    """Where the corpus of ``sources`` is cached: ``<cache_dir>/corpora/<stem>-<source id>-<fingerprint>``."""
    identity = hashlib.blake2b(
        "\0".join([kind, *(str(s.resolve()) for s in sources)]).encode(), digest_size=4
    )
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", sources[0].resolve().parent.name + "_" + sources[0].stem)[:60]
    return cache_dir / "corpora" / f"{stem}-{identity.hexdigest()}-{fingerprint}.arrow"


def open_cached_corpus(path: Path, fingerprint: str) -> Corpus | None:
    """The corpus cached at ``path``, or None when there is none (or when it is unreadable: it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        return Corpus(datasets.Dataset.from_file(str(path)), fingerprint=fingerprint)
    except (pa.ArrowInvalid, OSError, DataError):
        return None


def write_corpus(path: Path, rows: Iterable[tuple[str, str, str]], source: Path, fingerprint: str) -> Corpus:
    """Write validated ``(id, title, text)`` rows to ``path`` atomically and open the result memory-mapped.

    ``rows`` is consumed once, in batches; a :class:`DataError` raised while iterating leaves no file behind.
    Older cache files of the same source (same name up to the fingerprint) are removed afterwards.
    """
    count = 0
    with atomic_open(path, "wb") as handle, pa.ipc.new_stream(handle, _SCHEMA) as writer:
        columns: list[list[str]] = [[], [], []]
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                column.append(value)
            if len(columns[0]) >= _BATCH_ROWS:
                writer.write_batch(pa.record_batch(columns, schema=_SCHEMA))
                count += len(columns[0])
                columns = [[], [], []]
        if columns[0]:
            writer.write_batch(pa.record_batch(columns, schema=_SCHEMA))
            count += len(columns[0])
        if count == 0:
            raise DataError("the corpus has no documents", source)
    prefix = path.name[: -len(f"{fingerprint}.arrow")]
    for stale in path.parent.glob(f"{prefix}*.arrow"):
        if stale != path:
            with contextlib.suppress(OSError):
                stale.unlink()
    return Corpus(datasets.Dataset.from_file(str(path)), fingerprint=fingerprint)
