"""Readers for BEIR-style collections stored with Hugging Face ``datasets`` (``data.format=hf``).

A collection directory holds three tables, each in any of these forms:

- a directory written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk`` (a ``DatasetDict`` must hold
  exactly one split, as the Hub's ``BeIR/<name>`` corpus and queries do: ``corpus`` / ``queries``);
- ``<name>.parquet``;
- ``<name>.jsonl`` (JSON lines, read with ``datasets``).

``corpus`` has columns ``_id`` (or ``id``), ``title`` (optional) and ``text``; ``queries`` has ``_id`` (or
``id``) and ``text``; the judgments of a split are ``qrels/<split>``: a ``save_to_disk`` directory (also a split
of a ``DatasetDict`` saved as ``qrels/``), ``qrels/<split>.parquet`` or ``qrels/<split>.jsonl``, with columns
``query-id``, ``corpus-id`` and ``score`` (BEIR and MTEB's names; ``query_id`` / ``qid``, ``corpus_id`` /
``doc_id`` / ``docid`` and ``grade`` / ``relevance`` are accepted too). Integer ids are read as strings.

Every error names the table and the row (counted from 1), as the line readers name file and line. The corpus
goes through the same arrow cache as ``corpus.jsonl`` (keyed by the table's files and their contents).

``data.path=hf://<owner>/<name>`` names a dataset on the Hugging Face Hub (this needs a network, once): its
``corpus`` and ``queries`` configs and its qrels (the ``default`` config, as ``mteb/<name>`` has them, else the
``<owner>/<name>-qrels`` dataset, as BEIR publishes them) are saved with ``save_to_disk`` under the cache
directory (``hub/<owner>__<name>``) by :func:`materialize_hub`, then read as above; later runs read the saved
copy without a network.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Container, Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets

from gradedpr.data.corpus import Corpus
from gradedpr.data.corpus_cache import cache_path, open_cached_corpus, source_fingerprint, write_corpus
from gradedpr.data.qrels import QrelsTable
from gradedpr.data.validation import document, optional_grade, require_id, require_text
from gradedpr.errors import DataError

SAVED_STATE = "state.json"  # what Dataset.save_to_disk writes next to its arrow files
SAVED_DICT = "dataset_dict.json"  # what DatasetDict.save_to_disk writes
QRELS_SUFFIXES = (f"/{SAVED_STATE}", ".parquet", ".jsonl")
"""How ``qrels/<split>`` may be stored (the collection registry looks for ``qrels/<split><suffix>``)."""
ID_COLUMNS = ("_id", "id")
QUERY_COLUMNS = ("query-id", "query_id", "qid")
DOC_COLUMNS = ("corpus-id", "corpus_id", "doc_id", "docid")
GRADE_COLUMNS = ("score", "grade", "relevance")


def find_table(root: Path, name: str, given: str | None = None) -> Path:
    """Where table ``name`` is stored under ``root`` (``given``: an explicit file or directory, absolute, relative
    to the working directory or to ``root``)."""
    if given:
        candidates = [Path(given)] if Path(given).is_absolute() else [Path(given), root / given]
    else:
        candidates = [root / name, root / f"{name}.parquet", root / f"{name}.jsonl"]
    for candidate in candidates:
        if candidate.is_file() or (candidate.is_dir() and _is_saved(candidate)):
            return candidate
    tried = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise DataError(f"{name} not found (tried {tried}: a save_to_disk directory, .parquet or .jsonl)", root)


def _is_saved(directory: Path) -> bool:
    return (directory / SAVED_STATE).is_file() or (directory / SAVED_DICT).is_file()


def table_files(path: Path) -> list[Path]:
    """The files whose contents make up a table (what the corpus cache fingerprints)."""
    if path.name == SAVED_STATE:
        path = path.parent
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def load_table(path: Path) -> datasets.Dataset:
    """The ``datasets.Dataset`` stored at ``path`` (a ``save_to_disk`` directory or its ``state.json``, a
    ``.parquet`` or a ``.jsonl`` file); a ``DatasetDict`` must hold one split."""
    if path.name == SAVED_STATE:
        path = path.parent
    try:
        if path.is_dir():
            loaded = datasets.load_from_disk(str(path))
        elif path.suffix == ".parquet":
            loaded = datasets.Dataset.from_parquet(str(path))
        elif path.suffix == ".jsonl":
            loaded = datasets.Dataset.from_json(str(path))
        else:
            raise DataError("not a save_to_disk directory, .parquet or .jsonl file", path)
    except DataError:
        raise
    except Exception as exc:  # datasets / arrow raise many kinds on a damaged or foreign file
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read the table ({message})", path) from None
    if isinstance(loaded, datasets.DatasetDict):
        if len(loaded) != 1:
            raise DataError(f"a DatasetDict with {len(loaded)} splits ({', '.join(loaded)}): save the one this "
                            "table is, or give its directory (e.g. <dir>/<split>)", path)
        loaded = next(iter(loaded.values()))
    assert isinstance(loaded, datasets.Dataset)
    return loaded


def _column(table: datasets.Dataset, names: Sequence[str], path: Path, what: str) -> str:
    for name in names:
        if name in table.column_names:
            return name
    raise DataError(f"no {what} column (expected one of {', '.join(names)}; the table has "
                    f"{', '.join(table.column_names)})", path)


def _rows(table: datasets.Dataset, batch_size: int = 4096) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number from 1, row)`` in order, read in batches."""
    number = 0
    for start in range(0, len(table), batch_size):
        batch = table[start:start + batch_size]
        keys = list(batch)
        for values in zip(*(batch[k] for k in keys), strict=True):
            number += 1
            yield number, dict(zip(keys, values, strict=True))


def _corpus_rows(table: datasets.Dataset, path: Path) -> Iterator[tuple[str, str, str]]:
    id_key = _column(table, ID_COLUMNS, path, "document id")
    _column(table, ("text",), path, "text")
    seen: set[str] = set()
    for row, record in _rows(table):
        yield document(record, require_id(record, id_key, path, row), seen, path, row)


def read_corpus_table(path: Path, cache_dir: Path) -> Corpus:
    """The validated corpus of a table, from the arrow cache when its files are unchanged."""
    sources = table_files(path)
    fingerprint = source_fingerprint("corpus-hf", sources)
    target = cache_path(cache_dir, "corpus-hf", sources, fingerprint)
    cached = open_cached_corpus(target, fingerprint)
    if cached is not None:
        return cached
    return write_corpus(target, _corpus_rows(load_table(path), path), path, fingerprint)


def read_queries_table(path: Path) -> dict[str, str]:
    """Query id -> text of a queries table (``_id`` or ``id``, ``text``)."""
    table = load_table(path)
    id_key = _column(table, ID_COLUMNS, path, "query id")
    queries: dict[str, str] = {}
    for row, record in _rows(table):
        qid = require_id(record, id_key, path, row)
        text = require_text(record, "text", path, row).strip()
        if qid in queries:
            raise DataError(f"duplicate query id {qid!r}", path, row)
        queries[qid] = text
    if not queries:
        raise DataError("no queries in the table", path)
    return queries


def read_qrels_table(path: Path, query_ids: Container[str] | None = None,
                     doc_ids: Container[str] | None = None) -> dict[str, dict[str, int]]:
    """qid -> docid -> grade of a qrels table (``query-id``, ``corpus-id``, ``score``)."""
    table = load_table(path)
    qid_key = _column(table, QUERY_COLUMNS, path, "query id")
    doc_key = _column(table, DOC_COLUMNS, path, "document id")
    grade_key = _column(table, GRADE_COLUMNS, path, "grade")
    judged = QrelsTable(query_ids, doc_ids)
    for row, record in _rows(table):
        value = record.get(grade_key)
        if isinstance(value, float) and value.is_integer():  # a float column of whole grades (1.0)
            record[grade_key] = int(value)
        grade = optional_grade(record, grade_key, path, row)
        if grade is None:
            raise DataError(f"missing {grade_key!r}", path, row)
        judged.add(require_id(record, qid_key, path, row), require_id(record, doc_key, path, row),
                   grade, path, row)
    return judged.finish(path)


HUB_PREFIX = "hf://"
HUB_READY = ".gradedpr_hub.json"  # written last: the saved copy is complete


def hub_id(path: str) -> str | None:
    """``owner/name`` of ``hf://owner/name`` (None for a local path)."""
    if not path.startswith(HUB_PREFIX):
        return None
    repo = path[len(HUB_PREFIX):].strip("/")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise DataError(f"{path!r}: a Hub dataset is hf://<owner>/<name>")
    return repo


def materialize_hub(repo: str, cache_dir: Path) -> Path:
    """Save the Hub dataset ``repo``'s corpus, queries and qrels under ``cache_dir/hub/`` (once) and return the
    directory, in the layout :func:`find_table` reads."""
    import json

    target = cache_dir / "hub" / repo.replace("/", "__")
    if (target / HUB_READY).is_file():
        return target
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for config in ("corpus", "queries"):
            datasets.load_dataset(repo, config).save_to_disk(str(tmp / config))
        try:
            qrels, source = datasets.load_dataset(repo, "default"), f"{repo} (default)"
        except Exception:  # BEIR's own datasets keep the qrels in a separate <name>-qrels dataset
            qrels, source = datasets.load_dataset(f"{repo}-qrels"), f"{repo}-qrels"
        qrels.save_to_disk(str(tmp / "qrels"))
        (tmp / HUB_READY).write_text(json.dumps({"repo": repo, "qrels": source}) + "\n", encoding="utf-8")
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read the Hub dataset {repo!r} (a network is needed the first time): {message}") \
            from None
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
