"""Streaming, sharded, resumable corpus encoding into an :class:`~gradedpr.encode.store.EmbeddingStore`.

The corpus rows are split into ``num_shards`` contiguous shards (one per process under ``torchrun``) and each
shard into chunks of ``chunk_size`` rows. A chunk is read, tokenised, encoded in token-length order (see
:mod:`gradedpr.encode.batching`) and written with ``pwrite`` at its place in the shard's float32 file,
which is then fsync'ed and the chunk recorded in ``progress.json``; memory therefore holds one chunk, never
the corpus (the pages of a memory-mapped corpus file read for a chunk are dropped from the process after
it). An interrupted run restarts at the first unrecorded chunk. A finished shard is completed in its
``.partial`` directory (ids, ``shard.json``) and renamed into place, so a shard directory is always whole.
:func:`merge_shards` assembles the shards into the store (``embeddings.json`` written last).

Everything is keyed on an *identity*: the passage-encoder fingerprint, the corpus fingerprint, the number of
rows and the dimension. Parts whose identity differs (another model, another corpus) are discarded, never
mixed in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gradedpr.data.ids import IdList
from gradedpr.encode.batching import DEFAULT_MAX_TOKENS, MaxTokens, iter_encoded, tokenize_unpadded
from gradedpr.encode.fingerprint import PassageSource, corpus_fingerprint, encoder_fingerprint, encoder_settings
from gradedpr.encode.store import (
    DTYPE,
    FORMAT_VERSION,
    IDS_FILE,
    MATRIX_FILE,
    META_FILE,
    STORE_SHARDS_DIR,
    EmbeddingStore,
    check_store_dir,
    identity_mismatches,
    mark_store_dir,
    read_ids,
    read_json,
    write_ids,
)
from gradedpr.errors import CheckpointError
from gradedpr.model.biencoder import BiEncoder
from gradedpr.utils.atomic import atomic_open, atomic_write_text, fsync_dir
from gradedpr.utils.faults import crash_point
from gradedpr.utils.progress import progress_bar

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 16384
"""Rows per chunk: the unit of memory (texts, token ids, vectors of one chunk) and of resumption."""

SHARDS_DIR = STORE_SHARDS_DIR
SHARD_META = "shard.json"
PROGRESS_FILE = "progress.json"


def shard_bounds(num_rows: int, shard_id: int, num_shards: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of shard ``shard_id``: contiguous, sizes differ by at most one."""
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"need 0 <= shard_id < num_shards, got shard_id={shard_id}, num_shards={num_shards}")
    return num_rows * shard_id // num_shards, num_rows * (shard_id + 1) // num_shards


def shard_name(shard_id: int, num_shards: int) -> str:
    return f"shard-{shard_id:05d}-of-{num_shards:05d}"  # store.SHARD_DIR_NAME recognises it


def store_identity(model: BiEncoder, corpus: PassageSource) -> dict[str, Any]:
    """What an embedding matrix depends on: passage encoder, corpus, shape."""
    return {
        "encoder_fingerprint": encoder_fingerprint(model, "passage"),
        "corpus_fingerprint": corpus_fingerprint(corpus),
        "rows": len(corpus),
        "dim": model.dim,
    }


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def _pwrite_all(fd: int, array: np.ndarray, offset: int) -> None:
    """Write all bytes of ``array`` at ``offset`` (``pwrite`` may write less than asked)."""
    view = np.ascontiguousarray(array).data.cast("B")
    while len(view):
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _release_pages(corpus: PassageSource) -> None:
    """Drop the corpus file pages read so far from this process (see :meth:`Corpus.release_pages`), so that a
    pass over a memory-mapped corpus does not leave the whole file in the process's RSS."""
    release = getattr(corpus, "release_pages", None)
    if release is not None:
        release()


def encode_rows(
    model: BiEncoder,
    corpus: PassageSource,
    start: int,
    stop: int,
    batch_size: int,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    bar: Any = None,
) -> npt.NDArray[np.float32]:
    """Passage vectors of corpus rows ``start:stop`` in row order (``bar``: a tqdm bar to advance)."""
    texts = corpus.texts(list(range(start, stop)))
    tokens = tokenize_unpadded(model, texts, "passage")
    del texts
    out = np.empty((stop - start, model.dim), dtype=DTYPE)
    for rows, emb in iter_encoded(model, tokens, "passage", batch_size, max_tokens):
        out[rows] = emb
        if bar is not None:
            bar.update(len(rows))
    return out


def _open_partial(
    partial: Path, identity: Mapping[str, Any], bounds: tuple[int, int], chunk_size: int, dim: int
) -> dict[str, Any]:
    """Progress of a resumable partial shard, starting a fresh one when none matches."""
    want = {**identity, "start": bounds[0], "stop": bounds[1]}
    progress_path = partial / PROGRESS_FILE
    if progress_path.is_file():
        try:
            progress = read_json(progress_path)
        except CheckpointError:
            progress = {}
        wrong = identity_mismatches(progress, want)
        size_ok = (partial / MATRIX_FILE).is_file() and os.path.getsize(partial / MATRIX_FILE) == (
            bounds[1] - bounds[0]
        ) * dim * np.dtype(DTYPE).itemsize
        if not wrong and size_ok:
            if int(progress["chunk_size"]) != chunk_size:
                log.info("resuming %s with its chunk size %s", partial.name, progress["chunk_size"])
            return progress
        log.warning("discarding %s: it belongs to another encoding (%s)", partial, "; ".join(wrong) or "size")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with open(partial / MATRIX_FILE, "wb") as handle:
        handle.truncate((bounds[1] - bounds[0]) * dim * np.dtype(DTYPE).itemsize)
    progress = {**want, "chunk_size": chunk_size, "done": []}
    _write_json(progress_path, progress)
    return progress


def encode_corpus(
    model: BiEncoder,
    corpus: PassageSource,
    out_dir: str | Path,
    batch_size: int = 64,
    shard_id: int = 0,
    num_shards: int = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    show_progress: bool = True,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    identity: Mapping[str, Any] | None = None,
) -> Path:
    """Encode this shard of ``corpus`` with the passage encoder into ``out_dir/shards/``; return its directory.

    Returns at once when the shard (or the merged store) already exists for the same identity; resumes a
    partial shard chunk by chunk. ``identity`` may be passed to skip recomputing :func:`store_identity`.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    out_dir = Path(out_dir)
    identity = dict(identity) if identity is not None else store_identity(model, corpus)
    name = shard_name(shard_id, num_shards)
    bounds = shard_bounds(len(corpus), shard_id, num_shards)
    final = out_dir / SHARDS_DIR / name
    if EmbeddingStore.is_complete(out_dir, identity):
        log.info("%s already holds these embeddings", out_dir)
        return out_dir
    if _shard_complete(final, identity, bounds):
        log.info("%s is already encoded", final)
        return final
    if final.exists():  # another encoding's shard, or one a crash left incomplete: encoded again
        shutil.rmtree(final)
    partial = out_dir / SHARDS_DIR / f".{name}.partial"
    if _shard_complete(partial, identity, bounds):  # killed between finishing the shard and its rename
        os.replace(partial, final)
        fsync_dir(final.parent)
        return final
    progress = _open_partial(partial, identity, bounds, chunk_size, model.dim)
    step = int(progress["chunk_size"])
    done = {int(c) for c in progress["done"]}
    starts = list(range(bounds[0], bounds[1], step))
    already = sum(min(s + step, bounds[1]) - s for c, s in enumerate(starts) if c in done)
    desc = "encode passages" if num_shards == 1 else f"encode passages [{shard_id + 1}/{num_shards}]"
    bar = progress_bar(total=bounds[1] - bounds[0], initial=already, desc=desc, unit="p", show=show_progress)
    row_bytes = model.dim * np.dtype(DTYPE).itemsize
    was_training = model.training
    model.eval()
    began = time.perf_counter()
    try:
        with open(partial / MATRIX_FILE, "r+b") as handle:
            for chunk, start in enumerate(starts):
                if chunk in done:
                    continue
                stop = min(start + step, bounds[1])
                vectors = encode_rows(model, corpus, start, stop, batch_size, max_tokens, bar)
                _pwrite_all(handle.fileno(), vectors, (start - bounds[0]) * row_bytes)
                _release_pages(corpus)
                os.fsync(handle.fileno())
                done.add(chunk)
                progress["done"] = sorted(done)
                _write_json(partial / PROGRESS_FILE, progress)
                crash_point("encode_chunk_done")
    finally:
        bar.close()
        model.train(was_training)
    write_ids(partial / IDS_FILE, corpus.ids[bounds[0] : bounds[1]])
    _release_pages(corpus)
    shard_meta = {**identity, "start": bounds[0], "stop": bounds[1], "shard_id": shard_id,
                  "num_shards": num_shards, "seconds": round(time.perf_counter() - began, 3)}
    _write_json(partial / SHARD_META, shard_meta)
    (partial / PROGRESS_FILE).unlink()
    crash_point("shard_finished")
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    fsync_dir(final.parent)
    return final


def _shard_complete(directory: Path, identity: Mapping[str, Any], bounds: tuple[int, int]) -> bool:
    """Whether ``directory`` is a finished shard of rows ``bounds`` for ``identity``: its description matches
    and its matrix and id map are there with the right sizes (a crash may have left any of them missing)."""
    meta_path = directory / SHARD_META
    if not meta_path.is_file() or (directory / PROGRESS_FILE).exists():
        return False
    try:
        meta = read_json(meta_path)
    except CheckpointError:
        return False
    if identity_mismatches(meta, {**identity, "start": bounds[0], "stop": bounds[1]}):
        return False
    rows = bounds[1] - bounds[0]
    matrix = directory / MATRIX_FILE
    if not matrix.is_file() or matrix.stat().st_size != rows * int(identity["dim"]) * np.dtype(DTYPE).itemsize:
        return False
    try:
        return len(read_ids(directory / IDS_FILE)) == rows
    except (CheckpointError, UnicodeDecodeError):
        return False


def shard_status(out_dir: str | Path, num_shards: int, identity: Mapping[str, Any]) -> list[bool]:
    """Which shards of ``out_dir`` are finished for ``identity``."""
    rows = int(identity["rows"])
    return [_shard_complete(Path(out_dir) / SHARDS_DIR / shard_name(i, num_shards), identity,
                            shard_bounds(rows, i, num_shards)) for i in range(num_shards)]


def wait_for_shards(
    out_dir: str | Path, num_shards: int, identity: Mapping[str, Any], timeout: float = 86400.0,
    poll: float = 2.0,
) -> None:
    """Block until every shard is finished (other processes encode them); CheckpointError on timeout."""
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        status = shard_status(out_dir, num_shards, identity)
        if all(status) or EmbeddingStore.is_complete(out_dir, identity):
            return
        missing = [i for i, ok in enumerate(status) if not ok]
        if time.monotonic() > deadline:
            raise CheckpointError(f"{out_dir}: shards {missing} of {num_shards} did not finish in {timeout:.0f}s")
        if not announced:
            log.info("waiting for shards %s of %d (encoded by other processes) in %s", missing, num_shards, out_dir)
            announced = True
        time.sleep(poll)


def _link_or_copy(source: Path, target: Path) -> None:
    """Put ``source``'s content at ``target`` atomically, leaving ``source`` intact: a hard link (no copy)
    renamed over ``target``, or a copy where the file system has no links."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        os.link(source, temporary)
    except OSError:
        with atomic_open(target, "wb") as handle, open(source, "rb") as data:
            shutil.copyfileobj(data, handle, 16 << 20)
        return
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    # rename() of two links to one file does nothing and succeeds (POSIX): a merge killed after placing this
    # file leaves target linked to the shard's file already, and the temporary would stay behind as an orphan
    temporary.unlink(missing_ok=True)


def merge_shards(
    out_dir: str | Path,
    num_shards: int,
    identity: Mapping[str, Any],
    extra_meta: Mapping[str, Any] | None = None,
    keep_shards: bool = False,
) -> EmbeddingStore:
    """Assemble finished shards into the store at ``out_dir`` and open it.

    The description file is removed first and written last, so a crash leaves no store that looks complete;
    the shards stay intact until it is written (one shard's files are hard-linked into place, or copied where
    links are impossible; several are concatenated), so a merge killed at any point is simply done again by
    the next run. Shards are deleted afterwards unless ``keep_shards`` (also when a kill left them behind
    a complete store).
    """
    out_dir = Path(out_dir)
    if EmbeddingStore.is_complete(out_dir, identity):
        if not keep_shards:
            shutil.rmtree(out_dir / SHARDS_DIR, ignore_errors=True)
        return EmbeddingStore.open(out_dir, identity)
    status = shard_status(out_dir, num_shards, identity)
    if not all(status):
        missing = [i for i, ok in enumerate(status) if not ok]
        raise CheckpointError(f"{out_dir}: cannot merge, shards {missing} of {num_shards} are not finished")
    shard_dirs = [out_dir / SHARDS_DIR / shard_name(i, num_shards) for i in range(num_shards)]
    with contextlib.suppress(FileNotFoundError):
        (out_dir / META_FILE).unlink()
    for name in (MATRIX_FILE, IDS_FILE, META_FILE):  # temporaries of merges killed before (only this process
        for orphan in out_dir.glob(f".{name}.*.tmp"):  # writes these files)
            if re.fullmatch(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp", orphan.name):
                orphan.unlink(missing_ok=True)
    if num_shards == 1:
        _link_or_copy(shard_dirs[0] / MATRIX_FILE, out_dir / MATRIX_FILE)
        crash_point("merge_matrix_placed")
        _link_or_copy(shard_dirs[0] / IDS_FILE, out_dir / IDS_FILE)
        crash_point("merge_ids_placed")
    else:
        with atomic_open(out_dir / MATRIX_FILE, "wb") as target:
            for shard in shard_dirs:
                with open(shard / MATRIX_FILE, "rb") as source:
                    shutil.copyfileobj(source, target, 16 << 20)
        write_ids(out_dir / IDS_FILE, IdList.concat(read_ids(shard / IDS_FILE) for shard in shard_dirs))
    meta = {
        "format_version": FORMAT_VERSION,
        **identity,
        "dtype": "float32",
        "num_shards": num_shards,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **dict(extra_meta or {}),
    }
    _write_json(out_dir / META_FILE, meta)
    fsync_dir(out_dir)
    crash_point("merge_meta_written")
    if not keep_shards:
        shutil.rmtree(out_dir / SHARDS_DIR, ignore_errors=True)
    return EmbeddingStore.open(out_dir, identity)


def encode_to_store(
    model: BiEncoder,
    corpus: PassageSource,
    out_dir: str | Path,
    batch_size: int = 64,
    shard_id: int = 0,
    num_shards: int = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    show_progress: bool = True,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    keep_shards: bool = False,
    merge: bool | None = None,
    checkpoint: str | None = None,
    overwrite: bool = True,
) -> EmbeddingStore | None:
    """Encode this process's shard and, in the merging process (shard 0 by default), wait for the others
    and merge. Returns the store in the merging process, None elsewhere.

    ``out_dir`` must be empty or hold only a store's entries (see :func:`check_store_dir`); a complete store
    of other embeddings there is replaced only with ``overwrite``.
    """
    identity = store_identity(model, corpus)
    check_store_dir(out_dir, identity, overwrite=overwrite)
    mark_store_dir(out_dir)  # from now on the directory is known to be gradedpr's, finished or not
    encode_corpus(model, corpus, out_dir, batch_size, shard_id, num_shards, chunk_size, show_progress,
                  max_tokens, identity)
    if merge is None:
        merge = shard_id == 0
    if not merge:
        return None
    if num_shards > 1:
        wait_for_shards(out_dir, num_shards, identity)
    extra = {"encoder_settings": encoder_settings(model, "passage"), "checkpoint": checkpoint}
    return merge_shards(out_dir, num_shards, identity, extra, keep_shards)
