"""What ``scripts/index.py`` and ``scripts/evaluate.py`` do, as functions of their Hydra configs.

Importing this module registers the ``${basename:...}`` OmegaConf resolver the configs use in output paths.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gradedpr.data.from_config import collection_from_config
from gradedpr.errors import DataError
from gradedpr.evaluation.metrics import EvalResult, evaluate_run
from gradedpr.evaluation.report import format_table, write_metrics_json
from gradedpr.evaluation.runfile import write_trec_run
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.resolve import resolve_model_path
from gradedpr.retrieval.dense_index import INDEX_FILE, DenseIndex
from gradedpr.retrieval.distributed import local_device, rank_and_world
from gradedpr.retrieval.faiss_index import IndexSpec
from gradedpr.retrieval.fingerprint import encoder_fingerprint
from gradedpr.retrieval.pipeline import build_dense_index, retrieve

log = logging.getLogger(__name__)

MIN_K = 100


def _basename(path: object) -> str:
    text = str(path).rstrip("/")
    return Path(text).name or text


OmegaConf.register_new_resolver("basename", _basename, replace=True)


def evaluate_argv(argv: list[str]) -> list[str]:
    """``index=<dir>`` on the evaluate command line means ``index_dir=<dir>`` (``index`` is a config group
    of ``scripts/index.py``, so Hydra would read it as a group choice)."""
    return [f"index_dir={arg[len('index='):]}" if arg.startswith("index=") else arg for arg in argv]


def _load_model(cfg: DictConfig, **overrides: Any) -> BiEncoder:
    model = BiEncoder.from_pretrained(str(cfg.checkpoint), **{k: v for k, v in overrides.items() if v is not None})
    return model.to(local_device(str(cfg.get("device", "auto"))))


def _checkpoint_path(checkpoint: str) -> str:
    return str(resolve_model_path(checkpoint).resolve())


def run_index(cfg: DictConfig) -> DenseIndex | None:
    """Encode the configured corpus with the checkpoint's passage encoder, build the index and save it.

    Under ``torchrun`` (or with ``shard_id`` / ``num_shards``) each process encodes its share; the process of
    shard 0 waits for the others, merges and builds. Returns the index in that process, None in the others.
    """
    rank, world = rank_and_world()
    shard_id = rank if cfg.get("shard_id") is None else int(cfg.shard_id)
    num_shards = world if cfg.get("num_shards") is None else int(cfg.num_shards)
    model = _load_model(cfg, passage_max_length=cfg.model.get("passage_max_length"))
    collection = collection_from_config(cfg.data, splits=[])
    spec = IndexSpec.from_config(OmegaConf.to_container(cfg.index, resolve=True))  # type: ignore[arg-type]
    began = time.perf_counter()
    index = build_dense_index(
        model,
        collection.corpus,
        spec,
        embeddings_dir=str(cfg.embeddings_dir),
        batch_size=int(cfg.batch_size),
        max_tokens=cfg.get("max_tokens"),
        chunk_size=int(cfg.chunk_size),
        shard_id=shard_id,
        num_shards=num_shards,
        keep_embeddings=bool(cfg.keep_embeddings),
        checkpoint=_checkpoint_path(str(cfg.checkpoint)),
        corpus_name=str(cfg.data.name),
        show_progress=bool(cfg.show_progress),
        use_gpu=cfg.get("use_gpu"),
    )
    if index is None:
        print(f"shard {shard_id + 1}/{num_shards} encoded into {cfg.embeddings_dir}/shards; "
              "shard 1 merges and builds the index")
        return None
    index.meta["build_seconds"] = round(time.perf_counter() - began, 2)
    output = Path(str(cfg.output))
    index.save(output)
    info = index.meta["index"]
    print(
        f"index: {output}/ ({INDEX_FILE}, ids.txt, index.json)\n"
        f"  {index.meta['num_vectors']} passages of {cfg.data.name} x {index.meta['dim']} dims, "
        f"{info['factory']} ({info['search_parameters'] or 'exact'}), inner product, "
        f"built in {index.meta['build_seconds']:.1f}s\n"
        f"  encoder: {index.meta['encoder']['checkpoint']}\n"
        f"  embeddings: {index.meta.get('embeddings_dir') or '(deleted)'}"
    )
    return index


def run_evaluate(cfg: DictConfig) -> EvalResult:
    """Retrieve the split's queries with the checkpoint's query encoder, write the run and the metrics."""
    k = int(cfg.k)
    if k < MIN_K:
        raise DataError(f"k={k} is too small: the measures go down to rank {MIN_K}; use k >= {MIN_K}")
    split = str(cfg.split)
    model = _load_model(cfg, query_max_length=cfg.model.get("query_max_length"),
                        passage_max_length=cfg.model.get("passage_max_length"))
    collection = collection_from_config(cfg.data, splits=[split])
    show = bool(cfg.show_progress)
    max_tokens = cfg.get("max_tokens")
    index_dir = cfg.get("index_dir")
    index: DenseIndex | None
    if index_dir:
        index = DenseIndex.load(str(index_dir), model=model, corpus=collection.corpus,
                                allow_mismatch=bool(cfg.allow_mismatch), search_parameters=cfg.get("search_params"))
        if index.meta["encoder"].get("query_fingerprint") != encoder_fingerprint(model, "query"):
            log.info("the query encoder differs from the one stored with the index (expected when only the "
                     "query side was trained)")
    else:
        index = build_dense_index(model, collection.corpus, IndexSpec("flat"), batch_size=int(cfg.batch_size),
                                  max_tokens=max_tokens, show_progress=show, corpus_name=str(cfg.data.name))
        assert index is not None
    stats: dict[str, Any] = {}
    run = retrieve(model, collection, split, k, index=index, batch_size=int(cfg.batch_size),
                   max_tokens=max_tokens, show_progress=show, stats=stats)
    measures = list(cfg.measures)
    result = evaluate_run(run, collection.qrels[split], measures, mean_over=str(cfg.mean_over))
    output = Path(str(cfg.output))
    tag = str(cfg.run_tag or _basename(cfg.checkpoint))
    run_path, metrics_path = output / "run.trec", output / "metrics.json"
    write_trec_run(run_path, run, tag=tag, k=k)
    extra: Mapping[str, Any] = {
        "checkpoint": _checkpoint_path(str(cfg.checkpoint)),
        "data": str(cfg.data.name),
        "split": split,
        "k": k,
        "index": str(index_dir) if index_dir else None,
        "index_type": index.meta["index"]["factory"],
        "search_parameters": index.meta["index"]["search_parameters"],
        "search": stats,
        "model": model.config.to_dict(),
    }
    write_metrics_json(metrics_path, result, extra)
    rule = ("trec_eval -c: every query of the qrels, missing ones count 0" if result.mean_over == "qrels"
            else "pytrec_eval: queries in both run and qrels")
    sys.stdout.write(format_table({tag: result}, measures))
    print(
        f"{split} of {cfg.data.name}: mean over {result.num_queries} queries ({rule}); "
        f"{index.meta['index']['factory']} index, top {k}, {stats.get('qps', 0):.0f} queries/s\n"
        f"run: {run_path}\nmetrics: {metrics_path}"
    )
    return result
