"""Resuming continues the same run: the settings that shape it must be the ones it was trained with.

:func:`check_resume_settings` compares what a checkpoint recorded (its run's ``config.yaml``, or the
``settings`` in ``trainer_state.pt``) with the new settings, key by key over :data:`MUST_MATCH`, and raises one
:class:`~gradedpr.errors.CheckpointError` listing every change (``old -> new``). A key the checkpoint did not
record (older versions) is not compared.

May change on resume (not listed): ``train.max_steps`` and ``train.epochs`` (extend or shorten the run; the
linear decay is recomputed for the new length from the resumed step), the evaluation and checkpoint cadence
(``eval_every``, ``eval_at_start``, ``save_every``, ``save_best``, ``log_every``), ``test_split`` and
``test_passage_max_length``, ``eval_batch_size``, ``embeddings_dir``, ``device``, ``logger``, ``show_progress``,
``run_dir``, ``model.name_or_path`` (the weights come from the checkpoint), ``train.guard_p`` (applied after
training).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gradedpr.errors import CheckpointError

MUST_MATCH: tuple[str, ...] = (
    "seed",  # the data order and the groups are drawn from it
    "data.name", "data.format", "data.path", "data.qrels_files", "data.corpus_file", "data.queries_file",
    "loss.name", "loss.kwargs",
    "model.pooling", "model.similarity", "model.temperature", "model.shared", "model.query_max_length",
    "model.passage_max_length",
    "train.batch_size", "train.group_size", "train.max_positives", "train.regime", "train.frozen",
    "train.negatives", "train.negatives_depth", "train.negatives_run_file", "train.negatives_refresh_every",
    "train.lr", "train.weight_decay", "train.warmup_ratio", "train.grad_accum", "train.max_grad_norm",
    "train.freeze_word_embeddings", "train.bf16",
    "train.query_subset", "train.subset_seed", "train.heldout_docs",  # what the run may see
    "train.eval_split", "train.eval_metric", "train.eval_k", "train.eval_passage_max_length",  # the best checkpoint
)
"""Dotted keys whose value must be the same when a run is resumed."""

_ABSENT = object()


def _lookup(values: Mapping[str, Any], key: str) -> Any:
    node: Any = values
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def changed_settings(old: Mapping[str, Any], new: Mapping[str, Any],
                     keys: Iterable[str] = MUST_MATCH) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every key of ``keys`` recorded in ``old`` whose value differs in ``new``."""
    changes = []
    for key in keys:
        before, after = _lookup(old, key), _lookup(new, key)
        if before is _ABSENT:
            continue
        if _plain(before) != _plain(None if after is _ABSENT else after):
            changes.append((key, before, None if after is _ABSENT else after))
    return changes


def check_resume_settings(old: Mapping[str, Any], new: Mapping[str, Any], source: str,
                          keys: Iterable[str] = MUST_MATCH) -> None:
    """Raise a CheckpointError listing every changed key (``key: old -> new``)."""
    changes = changed_settings(old, new, keys)
    if changes:
        listed = "; ".join(f"{key}: {_show(a)} -> {_show(b)}" for key, a, b in changes)
        raise CheckpointError(f"{source}: cannot resume with different settings ({listed}); set them back, or "
                              "start a new run from the checkpoint with model.name_or_path=<it> instead of resume_from")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, str) else str(value)
