"""A DPR dual encoder: a query BERT and a passage BERT (or one shared BERT), pooled, compared by dot or cosine.

Encoding is separate from scoring and from the loss: ``encode_queries`` / ``encode_passages`` return embeddings,
``score`` turns two embedding matrices into the ``[B, M]`` score matrix the losses consume. That keeps the door
open for gathering embeddings across processes or caching gradients per chunk (GradCache) around the model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import Tensor, nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from gradedpr.errors import CheckpointError
from gradedpr.filenames import TRAINER_STATE, TRAINING_INFO
from gradedpr.model.config import CONFIG_NAME, BiEncoderConfig
from gradedpr.model.pooling import l2_normalize, pool
from gradedpr.model.resolve import is_checkpoint, resolve_model_path, sentence_transformers_hints
from gradedpr.types import Kind
from gradedpr.utils.atomic import atomic_directory
from gradedpr.utils.oserrors import at_target, write_failure
from gradedpr.utils.outputs import OutputKind

QUERY_DIR = "query_encoder"
PASSAGE_DIR = "passage_encoder"
FORMAT_VERSION = 1
CHECKPOINT = OutputKind(
    "a gradedpr checkpoint", CONFIG_NAME, ("format_version",),
    frozenset({QUERY_DIR, PASSAGE_DIR, TRAINER_STATE, TRAINING_INFO}),
)
"""A checkpoint directory: ``gradedpr.json`` with ``format_version``, the encoders, the tokenizer files (the
names of the new checkpoint's), the trainer state; ``save_pretrained`` replaces nothing else."""


class BiEncoder(nn.Module):
    """Query and passage encoders with pooling and similarity from a :class:`BiEncoderConfig`."""

    def __init__(
        self,
        query_encoder: PreTrainedModel,
        passage_encoder: PreTrainedModel | None,
        tokenizer: PreTrainedTokenizerBase,
        config: BiEncoderConfig,
    ) -> None:
        super().__init__()
        self.config = config
        self.accel = True
        """Encode through the oneDNN CPU kernels (:mod:`gradedpr.accel`): the commands' ``accel`` setting; not
        part of the saved model."""
        self.tokenizer = tokenizer
        self.query_encoder = query_encoder
        # With shared=True one module serves both sides; it is registered once.
        self.passage_encoder = query_encoder if config.shared or passage_encoder is None else passage_encoder
        if config.shared and passage_encoder is not None and passage_encoder is not query_encoder:
            raise ValueError("shared=True takes a single encoder")

    # ------------------------------------------------------------------ loading / saving
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "default", **overrides: Any) -> BiEncoder:
        """Load a gradedpr checkpoint, or build a dual encoder from one HF model directory.

        A checkpoint brings its own settings (``gradedpr.json``); ``overrides`` replace single settings, e.g.
        ``passage_max_length=256`` at evaluation time. A plain HF directory starts both encoders from the same
        weights; a sentence-transformers export contributes its pooling and max length unless overridden.
        """
        path = resolve_model_path(name_or_path)
        if is_checkpoint(path):
            settings = BiEncoderConfig.load(path).to_dict()
            settings.update({k: v for k, v in overrides.items() if v is not None})
            config = BiEncoderConfig.from_dict(settings)
            query_encoder = _load_encoder(path / QUERY_DIR)
            passage_encoder = None if config.shared else _load_encoder(path / PASSAGE_DIR)
            tokenizer = _load_tokenizer(path)
            return cls(query_encoder, passage_encoder, tokenizer, config)
        settings = sentence_transformers_hints(path)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        config = BiEncoderConfig.from_dict(settings)
        query_encoder = _load_encoder(path)
        passage_encoder = None if config.shared else _load_encoder(path)
        return cls(query_encoder, passage_encoder, _load_tokenizer(path), config)

    def save_pretrained(
        self, directory: str | Path, extra_files: Mapping[str, Any] | None = None, *, overwrite: bool = True
    ) -> Path:
        """Write the checkpoint atomically: the old directory or the complete new one, never half of one.

        ``extra_files`` maps relative names to objects saved with ``torch.save`` (optimizer state etc.), or to
        ``str`` contents written as text. An existing ``directory`` is replaced only if it is a gradedpr
        checkpoint (and ``overwrite``); a directory holding anything else raises
        :class:`~gradedpr.errors.OutputError` and is left alone.
        """
        _quiet_transformers()
        with atomic_directory(directory, CHECKPOINT, overwrite=overwrite) as tmp:
            try:
                self.query_encoder.save_pretrained(tmp / QUERY_DIR, safe_serialization=True)
                self.passage_encoder.save_pretrained(tmp / PASSAGE_DIR, safe_serialization=True)
                self.tokenizer.save_pretrained(str(tmp))
                settings = {"format_version": FORMAT_VERSION, **self.config.to_dict()}
                (tmp / CONFIG_NAME).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
                for name, value in (extra_files or {}).items():
                    target = tmp / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if isinstance(value, str):
                        target.write_text(value, encoding="utf-8")
                    else:
                        torch.save(value, target)
            except (RuntimeError, SafetensorError) as exc:  # a failed write, wrapped by torch / safetensors
                raise write_failure(directory, exc) from exc
            except OSError as exc:
                raise at_target(exc, tmp, directory) from exc
        return Path(directory)

    def gradient_checkpointing_enable(self) -> None:
        """Recompute each transformer layer's activations in the backward pass instead of keeping them
        (less memory, about one more forward pass of compute). Non-reentrant ``torch.utils.checkpoint``
        restores the RNG state for the recomputation, so dropout draws the same masks and the gradients
        equal those of the plain forward pass. Active in training mode only (HF's rule)."""
        kwargs = {"use_reentrant": False}
        for encoder in {id(e): e for e in (self.query_encoder, self.passage_encoder)}.values():
            if hasattr(encoder, "activation_checkpointing_enable"):  # transformers >= 5
                encoder.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    # ------------------------------------------------------------------ encoding
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dim(self) -> int:
        return int(self.query_encoder.config.hidden_size)

    def tokenize(self, texts: Sequence[str], kind: Kind) -> dict[str, Tensor]:
        """Tokenize queries (``kind='query'``) or passages (``'passage'``) at their configured max length."""
        max_length = self.config.query_max_length if kind == "query" else self.config.passage_max_length
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def _embed(self, encoder: PreTrainedModel, batch: Mapping[str, Tensor]) -> Tensor:
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden = encoder(**batch).last_hidden_state
        pooled = pool(hidden, batch["attention_mask"], self.config.pooling).float()
        return l2_normalize(pooled) if self.config.normalize else pooled

    def encode_queries(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Query embeddings [B, H] (unit length with cosine similarity)."""
        return self._embed(self.query_encoder, batch)

    def encode_passages(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Passage embeddings [M, H] (unit length with cosine similarity)."""
        return self._embed(self.passage_encoder, batch)

    def score(self, query_emb: Tensor, passage_emb: Tensor) -> Tensor:
        """The [B, M] score matrix: inner products (cosines when normalised) divided by the temperature."""
        return query_emb @ passage_emb.T / self.config.temperature

    def score_lists(self, query_emb: Tensor, passage_emb: Tensor) -> Tensor:
        """The [B, L] scores of each query [B, H] against its own list of passages [B, L, H], as :meth:`score`."""
        return torch.einsum("bh,blh->bl", query_emb, passage_emb) / self.config.temperature


def _quiet_transformers() -> None:
    """Loading reports and weight-loading bars are noise in a CLI that prints its own progress."""
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def _load_encoder(path: Path) -> PreTrainedModel:
    _quiet_transformers()
    try:
        try:
            return AutoModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False)
        except TypeError:
            return AutoModel.from_pretrained(str(path), local_files_only=True)
    except SafetensorError as exc:  # a truncated or damaged weights file
        weights = sorted(path.glob("*.safetensors"))
        where = weights[0] if len(weights) == 1 else path
        raise CheckpointError(f"{where}: truncated or corrupt weights ({' '.join(str(exc).split())})") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot load an HF encoder: {' '.join(str(exc).split())}") from exc


def _load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot load a tokenizer: {exc}") from exc
