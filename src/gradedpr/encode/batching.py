"""The one encoding loop: tokenise once, sort by token length, pad per batch, cap tokens per forward pass.

Every caller that turns texts into vectors goes through here (``index.py``, ``evaluate.py``, the trainer's
dev evaluation, the frozen-passage store, export checks). Compared with tokenising each batch with
``padding=True``, three things make CPU encoding faster without changing what is computed (each sequence
still sees exactly its own tokens; only the padding around it changes):

* texts are tokenised once, in large tokenizer calls; the ids are kept unpadded in flat int32 arrays
  (a few bytes per token, not Python lists);
* batches are formed in order of **token** length (not character length), so padding is minimal;
* on CPU a forward pass holds at most ``max_tokens`` padded tokens: a batch of ``batch_size`` long passages is run as
  several smaller forward passes. On CPU the activations of a pass of ~2k tokens stay in the last-level cache,
  so the element-wise layers (GELU, layer norm, bias, attention softmax) stop being memory-bound.

All of it runs under ``torch.inference_mode``, on CPU with oneDNN linear layers (prepacked weights, fused
GELU; :mod:`gradedpr.accel.linears`). Embeddings come back as float32 rows in input order. What each of
these is worth is measured in ``docs/BENCHMARKS.md`` (``bench/encoding.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from gradedpr.accel.linears import onednn_linears
from gradedpr.model.biencoder import BiEncoder
from gradedpr.types import KINDS, Kind
from gradedpr.utils.device import autocast
from gradedpr.utils.progress import progress_bar

MaxTokens = int | str | None
"""Padded tokens per forward pass: a number, ``None`` (no cap: ``batch_size`` rows per pass) or ``"auto"``."""

CPU_MAX_TOKENS = 2048
"""What ``"auto"`` means on CPU (chosen by ``bench/encoding.py``; see docs/BENCHMARKS.md). On GPUs ``"auto"``
means no cap (large passes keep them busy)."""

DEFAULT_MAX_TOKENS: MaxTokens = "auto"

TOKENIZE_BATCH = 1024
"""Texts per tokenizer call (large calls let the fast tokenizer's Rust side do the work)."""


@dataclass
class Tokenized:
    """Unpadded token ids of many texts, stored flat: text ``i`` is ``ids[offsets[i]:offsets[i + 1]]``."""

    ids: npt.NDArray[np.int32]
    offsets: npt.NDArray[np.int64]
    type_ids: npt.NDArray[np.int32] | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        return np.diff(self.offsets)


def max_length_of(model: BiEncoder, kind: Kind) -> int:
    """The configured max length (in tokens) of queries or passages."""
    if kind not in KINDS:
        raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
    return model.config.query_max_length if kind == "query" else model.config.passage_max_length


def tokenize_unpadded(model: BiEncoder, texts: Sequence[str], kind: Kind) -> Tokenized:
    """Tokenise ``texts`` (truncated at the configured max length) into a flat :class:`Tokenized`."""
    max_length = max_length_of(model, kind)
    tokenizer = model.tokenizer
    want_types = "token_type_ids" in tokenizer.model_input_names
    ids_parts: list[npt.NDArray[np.int32]] = []
    type_parts: list[npt.NDArray[np.int32]] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), TOKENIZE_BATCH):
        encoded = tokenizer(
            list(texts[start : start + TOKENIZE_BATCH]),
            truncation=True,
            max_length=max_length,
            padding=True,
            return_attention_mask=True,
            return_token_type_ids=want_types,
            return_tensors="np",
        )
        real = encoded["attention_mask"].astype(bool)  # row-major: each text's tokens stay contiguous
        lengths[start : start + real.shape[0]] = real.sum(axis=1)
        ids_parts.append(encoded["input_ids"][real].astype(np.int32))
        if want_types:
            type_parts.append(encoded["token_type_ids"][real].astype(np.int32))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int32)
    types = (np.concatenate(type_parts) if type_parts else np.zeros(0, dtype=np.int32)) if want_types else None
    return Tokenized(ids, offsets, types)


def resolve_max_tokens(max_tokens: MaxTokens, device: torch.device) -> int | None:
    """The token cap to use on ``device``: ``"auto"`` -> 2048 on CPU, no cap elsewhere."""
    if max_tokens == "auto":
        return CPU_MAX_TOKENS if device.type == "cpu" else None
    if max_tokens is None:
        return None
    if isinstance(max_tokens, str) and not max_tokens.isdigit():
        raise ValueError(f"max_tokens must be a positive integer, None or 'auto', got {max_tokens!r}")
    value = int(max_tokens)
    if value < 1:
        raise ValueError(f"max_tokens must be >= 1, got {value}")
    return value


def plan_batches(lengths: npt.NDArray[np.int64], batch_size: int, max_tokens: int | None) -> list[np.ndarray]:
    """Group row indices into forward passes: longest first, at most ``batch_size`` rows and (unless
    ``max_tokens`` is None) at most ``max_tokens`` padded tokens each (a single row may exceed it)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1 or None, got {max_tokens}")
    order = np.argsort(-lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        size = batch_size if max_tokens is None else max(1, min(batch_size, max_tokens // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


def pad_batch(tokens: Tokenized, rows: np.ndarray, pad_id: int, left: bool = False) -> dict[str, torch.Tensor]:
    """The model inputs (``input_ids``, ``attention_mask``, maybe ``token_type_ids``) of ``rows``."""
    lengths = tokens.lengths[rows]
    width = max(int(lengths.max()), 1) if len(rows) else 1
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64) if tokens.type_ids is not None else None
    for out, (row, length) in enumerate(zip(rows.tolist(), lengths.tolist(), strict=True)):
        begin = int(tokens.offsets[row])
        cols = slice(width - length, width) if left else slice(0, length)
        input_ids[out, cols] = tokens.ids[begin : begin + length]
        mask[out, cols] = 1
        if types is not None and tokens.type_ids is not None:
            types[out, cols] = tokens.type_ids[begin : begin + length]
    batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
    if types is not None:
        batch["token_type_ids"] = torch.from_numpy(types)
    return batch


def iter_encoded(
    model: BiEncoder,
    tokens: Tokenized,
    kind: Kind,
    batch_size: int = 64,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    onednn: bool | None = None,
) -> Iterator[tuple[np.ndarray, npt.NDArray[np.float32]]]:
    """Yield ``(rows, embeddings)`` per forward pass, longest texts first. The model must be in eval mode.

    ``onednn``: run the linear layers through oneDNN on CPU (see :mod:`gradedpr.accel.linears`); None = the
    model's ``accel`` attribute (the ``accel`` setting of the command that loaded it).
    """
    cap = resolve_max_tokens(max_tokens, model.device)
    encode = model.encode_queries if kind == "query" else model.encode_passages
    pad_id = model.tokenizer.pad_token_id
    pad_id = 0 if pad_id is None else int(pad_id)
    left = getattr(model.tokenizer, "padding_side", "right") == "left"
    encoder = model.query_encoder if kind == "query" else model.passage_encoder
    with onednn_linears(encoder, model.accel if onednn is None else onednn):
        for rows in plan_batches(tokens.lengths, batch_size, cap):
            batch = pad_batch(tokens, rows, pad_id, left)
            with torch.inference_mode(), autocast(model.device):
                emb = encode(batch)
            yield rows, emb.float().cpu().numpy()


def encode_texts(
    model: BiEncoder,
    texts: Sequence[str],
    kind: Kind,
    batch_size: int = 64,
    max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
    show_progress: bool = False,
    desc: str | None = None,
    onednn: bool | None = None,
) -> npt.NDArray[np.float32]:
    """Embed ``texts`` as queries or passages; float32 ``[len(texts), dim]`` in input order.

    Same vectors as :meth:`BiEncoder.encode` (up to float rounding from different padding), faster: see the
    module docstring. ``max_tokens=None`` runs plain ``batch_size`` batches; ``"auto"`` caps passes at 2,048
    padded tokens on CPU and not at all on GPUs.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
    out = np.empty((len(texts), model.dim), dtype=np.float32)
    if not len(texts):
        return out
    was_training = model.training
    model.eval()
    default_desc = "encode queries" if kind == "query" else "encode passages"
    bar = progress_bar(total=len(texts), desc=desc or default_desc, unit=kind[0], show=show_progress)
    try:
        tokens = tokenize_unpadded(model, texts, kind)
        for rows, emb in iter_encoded(model, tokens, kind, batch_size, max_tokens, onednn):
            out[rows] = emb
            bar.update(len(rows))
    finally:
        bar.close()
        model.train(was_training)
    return out
