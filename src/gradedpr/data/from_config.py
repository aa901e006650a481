"""Build a :class:`~gradedpr.data.collection.Collection` from a Hydra ``data`` config group entry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from gradedpr.config.schema import DataConfig
from gradedpr.data.builtin import build_builtin
from gradedpr.data.collection import Collection, load_collection

_KEYS = {f.name for f in fields(DataConfig)}


def collection_from_config(data_cfg: DataConfig | Mapping[str, Any],
                           splits: Sequence[str] | None = None) -> Collection:
    """Load the collection a ``configs/data/*.yaml`` entry describes (building the built-in one if needed).

    ``data_cfg`` is the schema's :class:`~gradedpr.config.schema.DataConfig` or its fields as a mapping (a run's
    recorded ``config.yaml``): every setting it leaves out takes the schema's default, and every value is
    checked there. ``splits`` restricts which qrels are read (for example only ``test`` at evaluation time);
    the corpus of DPR data is nevertheless that of every split of the entry.
    """
    data = data_cfg if isinstance(data_cfg, DataConfig) else DataConfig(
        **{k: v for k, v in dict(data_cfg).items() if k in _KEYS})
    if data.builtin:
        build_builtin(data.path)
    every = list(data.splits)
    return load_collection(
        data.format,
        data.path,
        list(splits) if splits is not None else every,
        corpus_file=data.corpus_file,
        queries_file=data.queries_file,
        qrels_files={k: str(v) for k, v in dict(data.qrels_files).items()} if data.qrels_files else None,
        name=data.name,
        corpus_splits=every,  # dpr: the corpus is the contexts of every split file, whichever qrels are read
    )
