"""Build a :class:`~gradedpr.data.collection.Collection` from a Hydra ``data`` config group entry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gradedpr.data.builtin import build_builtin
from gradedpr.data.collection import Collection, load_collection


def collection_from_config(data_cfg: Mapping[str, Any], splits: Sequence[str] | None = None) -> Collection:
    """Load the collection a ``configs/data/*.yaml`` entry describes (building the built-in one if needed).

    ``splits`` restricts which qrels are read (for example only ``test`` at evaluation time); the corpus of
    DPR data is nevertheless that of every split of the entry.
    """
    path = str(data_cfg["path"])
    if data_cfg.get("builtin", False):
        build_builtin(path)
    every = list(data_cfg.get("splits") or ("train", "dev", "test"))
    wanted = list(splits) if splits is not None else every
    qrels_files = data_cfg.get("qrels_files")
    return load_collection(
        str(data_cfg.get("format", "beir")),
        path,
        wanted,
        corpus_file=data_cfg.get("corpus_file"),
        queries_file=data_cfg.get("queries_file"),
        qrels_files={k: str(v) for k, v in dict(qrels_files).items()} if qrels_files else None,
        name=str(data_cfg.get("name", "collection")),
        corpus_splits=every,  # dpr: the corpus is the contexts of every split file, whichever qrels are read
    )
