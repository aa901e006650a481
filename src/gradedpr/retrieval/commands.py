"""What ``scripts/index.py`` and ``scripts/evaluate.py`` do, as functions of their Hydra configs.

Importing this module registers the ``${basename:...}`` OmegaConf resolver the configs use in output paths.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gradedpr.data.beir import read_beir_qrels
from gradedpr.data.from_config import collection_from_config
from gradedpr.data.validation import iter_lines
from gradedpr.errors import DataError, OutputError
from gradedpr.evaluation.compare import Comparison, compare_runs
from gradedpr.evaluation.measures import parse_measures
from gradedpr.evaluation.metrics import EvalResult, evaluate_run
from gradedpr.evaluation.report import format_table, write_metrics_json
from gradedpr.evaluation.runfile import Qrels, read_trec_qrels, read_trec_run, write_trec_run
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.resolve import resolve_model_path
from gradedpr.retrieval.dense_index import INDEX, INDEX_FILE, DenseIndex
from gradedpr.retrieval.distributed import local_device, rank_and_world
from gradedpr.retrieval.embeddings import check_store_dir
from gradedpr.retrieval.faiss_index import IndexSpec
from gradedpr.retrieval.fingerprint import encoder_fingerprint
from gradedpr.retrieval.pipeline import build_dense_index, retrieve
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.outputs import check_output_dir

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


def _check_index_outputs(output: Path, embeddings_dir: Path, overwrite: bool, writes_index: bool) -> None:
    """Refuse, before any work, output paths that hold files gradedpr did not write (or, without
    ``overwrite``, an index of gradedpr's); the embeddings' identity is checked once the encoder is known."""
    out, emb = output.resolve(), embeddings_dir.resolve()
    if emb == out or out in emb.parents or emb in out.parents:
        raise OutputError(f"output={output} and embeddings_dir={embeddings_dir}: the index and the embeddings "
                          "need separate directories, neither inside the other")
    if writes_index:
        check_output_dir(output, INDEX, overwrite=overwrite)
    check_store_dir(embeddings_dir, None, overwrite=overwrite)


def run_index(cfg: DictConfig) -> DenseIndex | None:
    """Encode the configured corpus with the checkpoint's passage encoder, build the index and save it.

    Under ``torchrun`` (or with ``shard_id`` / ``num_shards``) each process encodes its share; the process of
    shard 0 waits for the others, merges and builds. Returns the index in that process, None in the others.
    """
    rank, world = rank_and_world()
    shard_id = rank if cfg.get("shard_id") is None else int(cfg.shard_id)
    num_shards = world if cfg.get("num_shards") is None else int(cfg.num_shards)
    output = Path(str(cfg.output))
    overwrite = bool(cfg.get("overwrite", False))
    _check_index_outputs(output, Path(str(cfg.embeddings_dir)), overwrite, writes_index=shard_id == 0)
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
        overwrite=overwrite,
    )
    if index is None:
        print(f"shard {shard_id + 1}/{num_shards} encoded into {cfg.embeddings_dir}/shards; "
              "shard 1 merges and builds the index")
        return None
    index.meta["build_seconds"] = round(time.perf_counter() - began, 2)
    index.save(output, overwrite=overwrite)
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
    """Retrieve the split's queries with the checkpoint's query encoder, write the run and the metrics.

    With ``run=<file>`` no model is loaded: the existing run file is scored instead (see ``_score_run_file``).
    ``runs=[...]`` (comparison) is :func:`run_compare`.
    """
    if cfg.get("runs"):
        raise DataError("runs= compares run files: that is run_compare, not run_evaluate")
    if cfg.get("run"):
        return _score_run_file(cfg)
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
    output = (Path(str(cfg.output)) if cfg.get("output")
              else Path("outputs/eval") / f"{cfg.data.name}-{_basename(cfg.checkpoint)}-{split}")
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


# --- scoring and comparing existing run files (no model) -----------------------------------------------------


class _AnyId:
    """A container holding every id: qrels given as a file are not checked against queries or a corpus."""

    def __contains__(self, item: object) -> bool:
        return True


def _read_qrels_file(path: Path) -> Qrels:
    """Qrels from a TREC file (``qid iter docid grade``) or a BEIR tsv (``query-id<TAB>corpus-id<TAB>score``).

    The format is told by the first non-blank line: three tab-separated fields mean BEIR (header optional).
    """
    if not path.is_file():
        raise DataError("qrels file not found", path)
    first = next(iter_lines(path), None)  # the generator is dropped (and its file closed) right away
    if first is None:
        raise DataError("qrels file holds no judgments", path)
    if len(first[1].split("\t")) == 3:
        return read_beir_qrels(path, _AnyId(), _AnyId())
    return read_trec_qrels(path)


@dataclass
class _Judged:
    """The qrels run files are scored against, with where they came from."""

    qrels: Qrels
    label: str  # "<data>-<split>" or the qrels file stem: used in default output paths
    doc_ids: Container[str] | None  # the corpus, when data + split gave the qrels
    source: dict[str, Any]


def _judged(cfg: DictConfig) -> _Judged:
    if cfg.get("qrels"):
        path = Path(str(cfg.qrels))
        return _Judged(_read_qrels_file(path), _slug(path.stem), None, {"qrels": str(path)})
    split = str(cfg.split)
    collection = collection_from_config(cfg.data, splits=[split])
    return _Judged(collection.qrels[split], f"{cfg.data.name}-{split}", collection.corpus,
                   {"data": str(cfg.data.name), "split": split})


def _slug(text: str) -> str:
    """``text`` made safe as one path component."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "run"


def _option_int(cfg: DictConfig, key: str) -> int:
    value = cfg.get(key)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"{key}={value!r} is not an integer") from None


def _measures(cfg: DictConfig) -> list[str]:
    names = cfg.measures if isinstance(cfg.measures, str) else list(cfg.measures)
    try:
        return [m.name for m in parse_measures(names)]
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _score_file(path: Path, name: str, judged: _Judged, measures: list[str], mean_over: str
                ) -> tuple[EvalResult, dict[str, Any]]:
    """Read and evaluate one run file. Queries unknown to the qrels are ignored (as trec_eval does) and
    reported on stderr; qrels queries the run lacks count 0 with ``mean_over="qrels"``."""
    run = read_trec_run(path, judged.doc_ids)
    unknown = [qid for qid in run if qid not in judged.qrels]
    if len(unknown) == len(run):
        raise DataError(f"none of the run's {len(run)} queries is in the qrels (e.g. {unknown[0]!r}): "
                        "check the split and the query ids", path)
    if unknown:
        print(f"warning: {path}: {len(unknown)} of {len(run)} queries are not in the qrels and are ignored "
              f"(as trec_eval does), e.g. {unknown[0]!r}", file=sys.stderr)
    try:
        result = evaluate_run(run, judged.qrels, measures, mean_over=mean_over)
    except DataError as exc:
        raise (exc if exc.path else DataError(exc.message, path)) from None
    missing = sum(1 for qid in judged.qrels if qid not in run)
    info = {"path": str(path), "name": name, "queries": len(run), "queries_not_in_qrels": len(unknown),
            "qrels_queries_not_in_run": missing}
    return result, info


def _score_run_file(cfg: DictConfig) -> EvalResult:
    """``run=<file>``: evaluate an existing run file, print the table, write ``<output>/metrics.json``."""
    path = Path(str(cfg.run))
    name = _slug(path.stem)
    judged = _judged(cfg)
    measures = _measures(cfg)
    mean_over = str(cfg.mean_over)
    if mean_over not in ("qrels", "both"):
        raise DataError(f"mean_over={mean_over} is not one of qrels (trec_eval -c), both (pytrec_eval)")
    result, info = _score_file(path, name, judged, measures, mean_over)
    default = f"{judged.label}-{name}" if cfg.get("qrels") else f"{cfg.data.name}-{name}-{cfg.split}"
    output = Path(str(cfg.output)) if cfg.get("output") else Path("outputs/eval") / _slug(default)
    metrics_path = output / "metrics.json"
    write_metrics_json(metrics_path, result, {**judged.source, "run_file": info})
    rule = ("trec_eval -c: every query of the qrels, missing ones count 0" if result.mean_over == "qrels"
            else "pytrec_eval: queries in both run and qrels")
    sys.stdout.write(format_table({name: result}, measures))
    print(f"{path}: mean over {result.num_queries} queries ({rule}); the run has {info['queries']} queries, "
          f"{info['queries_not_in_qrels']} not in the qrels\nmetrics: {metrics_path}")
    return result


def _run_entries(runs: Any) -> list[tuple[str | None, str]]:
    """(explicit name or None, path) for every entry of ``runs`` (a list, ``name=path`` items, or a mapping)."""
    if isinstance(runs, (DictConfig, Mapping)):
        return [(str(name), str(path)) for name, path in runs.items()]
    if isinstance(runs, str):
        runs = [runs]
    entries: list[tuple[str | None, str]] = []
    for item in runs:
        text = str(item)
        name, sep, rest = text.partition("=")
        if sep and name and rest and "/" not in name:
            entries.append((name, rest))
        else:
            entries.append((None, text))
    return entries


def _default_names(paths: list[str]) -> list[str]:
    """File stems; runs whose stems collide get as many parent directories as make them distinct."""
    parts = [Path(p).with_suffix("").parts if Path(p).suffix else Path(p).parts for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ["/".join(part[-d:]) for part, d in zip(parts, depth, strict=True)]
        counts: dict[str, int] = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        grow = [i for i, name in enumerate(names) if counts[name] > 1 and depth[i] < len(parts[i])]
        if not grow:
            return names
        for i in grow:
            depth[i] += 1


def _named_runs(runs: Any) -> dict[str, Path]:
    entries = _run_entries(runs)
    unnamed = [i for i, (name, _) in enumerate(entries) if name is None]
    defaults = dict(zip(unnamed, _default_names([entries[i][1] for i in unnamed]), strict=True))
    named: dict[str, Path] = {}
    for i, (name, path) in enumerate(entries):
        label = name if name is not None else defaults[i]
        if label in named:
            raise DataError(f"two runs are named {label!r} ({named[label]} and {path}); name them: "
                            "runs={a: file1, b: file2}")
        named[label] = Path(path)
    return named


def _baseline_name(baseline: Any, named: Mapping[str, Path]) -> str:
    if baseline is None:
        return next(iter(named))
    text = str(baseline)
    if text in named:
        return text
    wanted = Path(text).resolve()
    for name, path in named.items():
        if path.resolve() == wanted:
            return name
    raise DataError(f"baseline {text!r} is not among the runs ({', '.join(named)}); give a run name or path")


def run_compare(cfg: DictConfig) -> Comparison:
    """``runs=[...] baseline=...``: score every run file against the same qrels (trec_eval -c) and compare
    each with the baseline by paired tests; print the Markdown tables, write ``compare.json`` and ``compare.md``
    into ``output``. No model is loaded."""
    if cfg.get("run"):
        raise DataError("give either run= (score one file) or runs= (compare several), not both")
    if str(cfg.mean_over) != "qrels":
        raise DataError(f"runs are compared over every query of the qrels (trec_eval -c): mean_over={cfg.mean_over}"
                        " is not supported here; use mean_over=qrels")
    named = _named_runs(cfg.runs)
    if len(named) < 2:
        raise DataError(f"runs= needs at least two run files to compare, got {len(named)}")
    baseline = _baseline_name(cfg.get("baseline"), named)
    n_permutations, seed = _option_int(cfg, "n_permutations"), _option_int(cfg, "seed")
    measures = _measures(cfg)
    judged = _judged(cfg)
    if len(judged.qrels) < 2:  # checked before the runs are read, whose queries would all be warned about
        noun = "query" if len(judged.qrels) == 1 else "queries"
        raise DataError(f"the qrels hold {len(judged.qrels)} {noun}, so the runs have {len(judged.qrels)} {noun} "
                        "in common; paired tests need at least 2")
    results: dict[str, EvalResult] = {}
    files: dict[str, dict[str, Any]] = {}
    for name, path in named.items():
        results[name], files[name] = _score_file(path, name, judged, measures, "qrels")
    comparison = compare_runs(results, baseline, measures, n_permutations=n_permutations, seed=seed)
    comparison.extra.update({**judged.source, "run_files": files})
    if cfg.get("output"):
        output = Path(str(cfg.output))
    else:
        joined = _slug("-".join(comparison.runs))
        if len(joined) > 80:
            digest = hashlib.sha1("\0".join(str(p) for p in named.values()).encode()).hexdigest()[:8]
            joined = f"{joined[:70]}-{digest}"
        output = Path("outputs/compare") / f"{judged.label}-{joined}"
    table = comparison.to_markdown()
    json_path, markdown_path = output / "compare.json", output / "compare.md"
    atomic_write_text(json_path, json.dumps(comparison.to_dict(), indent=2, allow_nan=False) + "\n")
    atomic_write_text(markdown_path, table)
    sys.stdout.write(table)
    print(f"comparison: {json_path} (and {markdown_path.name})")
    return comparison
