"""The on-disk embedding store: a raw float32 matrix, its id map and a JSON description.

Layout of a store directory (written by :mod:`gradedpr.encode.sharded`)::

    embeddings.f32    rows x dim float32, C order, no header (``np.memmap(..., shape=(rows, dim))``)
    ids.txt           one document id per line, row order
    embeddings.json   rows, dim, encoder and corpus fingerprints, encoder settings; written last, so its
                      presence marks a complete store
    shards/           per-shard parts while encoding (removed after the merge unless kept)
    .gradedpr-store.json  written when gradedpr starts a store in the directory, deleted last: an unfinished
                      store (no embeddings.json yet, or half deleted) is recognised by it, not by entry names

Reading goes through :meth:`EmbeddingStore.iter_chunks`, which copies row blocks with ordinary reads
instead of touching a memory map, so scanning a large store does not leave it resident in the process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gradedpr.data.ids import BLOCK, IdList
from gradedpr.errors import CheckpointError, DataError, OutputError
from gradedpr.filenames import IDS_FILE
from gradedpr.utils.atomic import atomic_open
from gradedpr.utils.outputs import OutputKind, describe

MATRIX_FILE = "embeddings.f32"
META_FILE = "embeddings.json"
FORMAT_VERSION = 1
DTYPE = np.float32
ROW_BYTES_PER_DIM = np.dtype(DTYPE).itemsize
STORE_SHARDS_DIR = "shards"
OWNER_FILE = ".gradedpr-store.json"
STORE = OutputKind("a gradedpr embedding store", META_FILE, ("format_version", "encoder_fingerprint",
                   "corpus_fingerprint"), frozenset({MATRIX_FILE, IDS_FILE, STORE_SHARDS_DIR, OWNER_FILE}))
"""A store directory: the description, the matrix, the id map, the per-shard parts and the ownership marker;
nothing else."""
SHARD_DIR_NAME = re.compile(r"shard-\d{5}-of-\d{5}(?:\.partial)?")
"""The per-shard directories under ``shards/`` (``sharded.shard_name``, ``.partial`` while encoding)."""


def write_ids(path: Path, ids: Sequence[str]) -> None:
    """Write the id map atomically, one id per line; an id that cannot live on one line is a DataError.

    ``ids`` is converted :data:`~gradedpr.data.ids.BLOCK` ids at a time (an :class:`IdList` slice is zero-copy).
    """
    with atomic_open(path, "w") as handle:
        for start in range(0, len(ids), BLOCK):
            block = [str(docid) for docid in ids[start : start + BLOCK]]
            for docid in block:
                if not docid or "\n" in docid or "\r" in docid:
                    raise DataError(f"document id {docid!r} is empty or spans lines; it cannot be indexed")
            handle.write("\n".join(block) + "\n")


def read_ids(path: Path) -> IdList:
    """The id map written by :func:`write_ids`, as an arrow-backed :class:`IdList` built block by block."""
    try:
        return IdList.read_lines(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the id map: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{path}: the id map is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return value


def identity_mismatches(have: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """Keys of ``want`` whose values differ in ``have`` (human readable, for error messages)."""
    return [f"{key}: {have.get(key)!r} != {value!r}" for key, value in want.items() if have.get(key) != value]


@dataclass
class EmbeddingStore:
    """A complete store directory: ``meta`` (the JSON), ``ids`` (row order) and the matrix on disk."""

    directory: Path
    meta: dict[str, Any]
    ids: Sequence[str]

    @property
    def num_rows(self) -> int:
        return int(self.meta["rows"])

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def matrix_path(self) -> Path:
        return self.directory / MATRIX_FILE

    def memmap(self) -> np.memmap:
        """Read-only memory map of the whole matrix (pages stay resident once touched)."""
        return np.memmap(self.matrix_path, dtype=DTYPE, mode="r", shape=(self.num_rows, self.dim))

    def read_rows(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Rows ``start:stop`` copied into memory."""
        start, stop = max(0, start), min(stop, self.num_rows)
        count = max(0, stop - start) * self.dim
        with open(self.matrix_path, "rb") as handle:
            handle.seek(start * self.dim * ROW_BYTES_PER_DIM)
            data = np.fromfile(handle, dtype=DTYPE, count=count)
        if data.size != count:
            raise CheckpointError(f"{self.matrix_path}: truncated (wanted rows {start}:{stop})")
        return data.reshape(-1, self.dim)

    def iter_chunks(self, rows_per_chunk: int = 65536) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        """``(start_row, block)`` over the whole matrix, ``rows_per_chunk`` rows at a time."""
        for start in range(0, self.num_rows, rows_per_chunk):
            yield start, self.read_rows(start, start + rows_per_chunk)

    def load(self) -> npt.NDArray[np.float32]:
        """The whole matrix in memory."""
        return self.read_rows(0, self.num_rows)

    @classmethod
    def open(cls, directory: str | Path, expect: Mapping[str, Any] | None = None) -> EmbeddingStore:
        """Open a complete store; ``expect`` (e.g. fingerprints) must match its metadata."""
        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise CheckpointError(f"{directory}: not a complete embedding store (no {META_FILE})")
        meta = read_json(meta_path)
        if expect:
            wrong = identity_mismatches(meta, expect)
            if wrong:
                raise CheckpointError(f"{directory}: embeddings were made from something else: {'; '.join(wrong)}")
        ids = read_ids(directory / IDS_FILE)
        rows, dim = int(meta["rows"]), int(meta["dim"])
        size = os.path.getsize(directory / MATRIX_FILE) if (directory / MATRIX_FILE).exists() else -1
        if len(ids) != rows or size != rows * dim * ROW_BYTES_PER_DIM:
            raise CheckpointError(
                f"{directory}: inconsistent store ({rows} rows x {dim} expected, {len(ids)} ids, "
                f"{size} bytes of embeddings)"
            )
        return cls(directory, meta, ids)

    @staticmethod
    def is_complete(directory: str | Path, expect: Mapping[str, Any] | None = None) -> bool:
        """True when ``directory`` holds a complete store matching ``expect``."""
        try:
            EmbeddingStore.open(directory, expect)
        except CheckpointError:
            return False
        return True


def check_store_dir(directory: str | Path, expect: Mapping[str, Any] | None, *, overwrite: bool) -> None:
    """Raise :class:`~gradedpr.errors.OutputError` unless an embedding store may be written into ``directory``.

    Allowed: a missing or empty directory, or one holding only a store's entries (resumable parts of this
    encoding, or this very store). A complete store of other embeddings (its description differs from
    ``expect``) is replaced only with ``overwrite``; a directory holding anything else is never written.
    """
    path = Path(directory)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory; choose another embeddings_dir")
    strange = STORE.foreign(path)
    if strange:
        raise OutputError(
            f"{path}: holds {describe(strange)}, which gradedpr did not write; it writes embeddings only into "
            "an empty directory or its own store: choose another embeddings_dir"
        )
    if any(path.iterdir()) and not (STORE.is_marked(path) or is_owned_store(path)):
        raise OutputError(
            f"{path}: holds files but no {META_FILE} or {OWNER_FILE} of gradedpr's, so it is not an embedding "
            "store gradedpr started; it writes embeddings only into an empty directory or its own store: choose "
            "another embeddings_dir"
        )
    if expect is None or overwrite or not STORE.is_marked(path):
        return
    wrong = identity_mismatches(read_json(path / META_FILE), expect)
    if wrong:
        keys = ", ".join(w.split(":", 1)[0] for w in wrong)
        raise OutputError(
            f"{path}: already holds the embeddings of another encoder or corpus ({keys} differ); pass "
            "overwrite=true to replace them, or choose another embeddings_dir"
        )


def is_owned_store(directory: str | Path) -> bool:
    """Whether gradedpr started a store in ``directory``: its ownership marker (a JSON object with
    ``format_version``), or, for stores begun by versions before the marker, a ``shards/`` holding nothing
    but per-shard directories."""
    path = Path(directory)
    try:
        value = json.loads((path / OWNER_FILE).read_text(encoding="utf-8"))
        if isinstance(value, dict) and "format_version" in value:
            return True
    except (OSError, ValueError):
        pass
    shards = path / STORE_SHARDS_DIR
    return (shards.is_dir() and not shards.is_symlink() and any(shards.iterdir())
            and all(SHARD_DIR_NAME.fullmatch(entry.name) for entry in shards.iterdir()))


def mark_store_dir(directory: str | Path) -> None:
    """Create ``directory`` and its ownership marker (atomically) unless it is there."""
    path = Path(directory)
    if not (path / OWNER_FILE).is_file():
        with atomic_open(path / OWNER_FILE, "w") as handle:
            handle.write(json.dumps({"format_version": FORMAT_VERSION, "kind": "gradedpr embedding store"}) + "\n")


def delete_store(directory: str | Path) -> None:
    """Delete what gradedpr wrote into a store directory (the description first, so a half-deleted store
    never looks complete; the ownership marker last, so it is still known to be gradedpr's), and the
    directory itself only if nothing else is left in it."""
    path = Path(directory)
    for name in (META_FILE, MATRIX_FILE, IDS_FILE):
        (path / name).unlink(missing_ok=True)
    shutil.rmtree(path / STORE_SHARDS_DIR, ignore_errors=True)
    (path / OWNER_FILE).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.rmdir()
