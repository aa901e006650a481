"""Fingerprints that tie an embedding matrix or an index to the encoder and the corpus it was built from.

* :func:`encoder_fingerprint` hashes one side's weights (every tensor of the state dict: name, dtype, shape,
  bytes) together with the settings that change its vectors (pooling, similarity, max length) and the
  tokenizer's identity. Two checkpoints whose passage encoders are equal get the same passage fingerprint,
  so an index built with a frozen passage encoder stays valid for every query encoder trained against it.
* :func:`corpus_fingerprint` hashes the number of passages and the full content of ids, titles and texts, in a
  way that does not depend on how the arrow data is chunked (lengths and bytes are hashed as two streams).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import torch

from gradedpr.data.ids import IdList
from gradedpr.encode.batching import max_length_of
from gradedpr.model.biencoder import BiEncoder
from gradedpr.types import Kind

_DIGEST = 16
_TEXT_BATCH = 10_000
_RELEASE_BYTES = 16 << 20
"""Bytes of a memory-mapped corpus hashed between two :meth:`Corpus.release_pages` calls."""


class PassageSource(Protocol):
    """What the retrieval code needs from a corpus: ids in row order and texts by rows."""

    @property
    def ids(self) -> Sequence[str]: ...

    def __len__(self) -> int: ...

    def texts(self, rows: Sequence[int]) -> list[str]: ...


def _update_with_tensor(digest: Any, name: str, tensor: torch.Tensor) -> None:
    data = tensor.detach().to("cpu").contiguous()
    digest.update(f"{name}\0{data.dtype}\0{tuple(data.shape)}\0".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")


def weights_fingerprint(module: torch.nn.Module) -> str:
    """Hex digest of every parameter and buffer of ``module`` (name, dtype, shape, values)."""
    digest = hashlib.blake2b(digest_size=_DIGEST)
    for name, tensor in sorted(module.state_dict().items()):
        _update_with_tensor(digest, name, tensor)
    return digest.hexdigest()


def encoder_settings(model: BiEncoder, kind: Kind) -> dict[str, Any]:
    """The settings besides the weights that determine the vectors of one side."""
    return {
        "pooling": model.config.pooling,
        "similarity": model.config.similarity,
        "max_length": max_length_of(model, kind),
        "dim": model.dim,
        "tokenizer": f"{type(model.tokenizer).__name__}:{len(model.tokenizer)}",
    }


def encoder_fingerprint(model: BiEncoder, kind: Kind = "passage") -> str:
    """Fingerprint of the query or passage side: its weights plus :func:`encoder_settings`."""
    encoder = model.query_encoder if kind == "query" else model.passage_encoder
    digest = hashlib.blake2b(digest_size=_DIGEST)
    digest.update(weights_fingerprint(encoder).encode())
    digest.update(repr(sorted(encoder_settings(model, kind).items())).encode())
    return digest.hexdigest()


def _hash_strings(lengths: Any, data: Any, column: pa.ChunkedArray | pa.Array,
                  release: Callable[[], None] | None = None) -> None:
    """Feed the string lengths and bytes of ``column`` to two digests; call ``release`` every
    :data:`_RELEASE_BYTES` bytes read (to drop mapped pages already hashed)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    read = 0
    for chunk in chunks:
        if release is not None and read >= _RELEASE_BYTES:
            release()
            read = 0
        read += chunk.nbytes
        if len(chunk) == 0:
            continue
        if chunk.null_count:
            chunk = chunk.fill_null("")
        if pa.types.is_large_string(chunk.type):
            offset_type: type = np.int64
        elif pa.types.is_string(chunk.type):
            offset_type = np.int32
        else:
            chunk = chunk.cast(pa.string())
            offset_type = np.int32
        buffers = chunk.buffers()
        offsets: np.ndarray = np.frombuffer(buffers[1], dtype=offset_type)[chunk.offset : chunk.offset + len(chunk) + 1]
        lengths.update(np.diff(offsets).astype(np.int64).tobytes())
        if buffers[2] is not None:
            data.update(memoryview(buffers[2])[int(offsets[0]) : int(offsets[-1])])


def corpus_fingerprint(corpus: PassageSource) -> str:
    """Hex digest of the corpus: passage count and the content of every id, title and text.

    A :class:`~gradedpr.data.corpus.Corpus` is hashed straight from its arrow buffers (about 1 GB/s); any
    other object with ``ids`` and ``texts(rows)`` is hashed through its texts.
    """
    ids_len, ids_data = hashlib.blake2b(digest_size=_DIGEST), hashlib.blake2b(digest_size=_DIGEST)
    txt_len, txt_data = hashlib.blake2b(digest_size=_DIGEST), hashlib.blake2b(digest_size=_DIGEST)
    dataset = getattr(corpus, "dataset", None)
    if dataset is not None:
        table: pa.Table = dataset.with_format("arrow")[:]
        # a pass over the whole file: its pages are dropped from this process as it goes (Corpus.release_pages)
        release = getattr(corpus, "release_pages", None)
        _hash_strings(ids_len, ids_data, table.column("_id"), release)
        # title and text are hashed separately: "a b" + "c" must not equal "a" + "b c"
        _hash_strings(txt_len, txt_data, table.column("title"), release)
        _hash_strings(txt_len, txt_data, table.column("text"), release)
        if release is not None:
            release()
        kind = "arrow"
    else:
        ids = corpus.ids
        if isinstance(ids, IdList):
            _hash_strings(ids_len, ids_data, ids.arrow)
        else:
            for start in range(0, len(ids), _TEXT_BATCH):
                block = pa.array([str(i) for i in ids[start : start + _TEXT_BATCH]], type=pa.string())
                _hash_strings(ids_len, ids_data, block)
        for start in range(0, len(corpus), _TEXT_BATCH):
            rows = list(range(start, min(start + _TEXT_BATCH, len(corpus))))
            _hash_strings(txt_len, txt_data, pa.array(corpus.texts(rows), type=pa.string()))
        kind = "texts"
    final = hashlib.blake2b(digest_size=_DIGEST)
    final.update(f"{kind}\0{len(corpus)}\0".encode())
    for part in (ids_len, ids_data, txt_len, txt_data):
        final.update(part.digest())
    return final.hexdigest()
