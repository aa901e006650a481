"""A retrieval collection (corpus, queries, graded judgments per split) and the registry of its file formats.

``load_collection(format, path, splits)`` finds the format's reader in :data:`FORMATS` (filled by
:func:`register_format`, as losses are by ``register_loss``), which reads and validates

- ``"beir"``: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv`` (see :mod:`gradedpr.data.beir`);
- ``"trec"``: the same corpus and queries (queries may also be ``queries.tsv``), TREC qrels
  ``qrels/<split>.txt`` or ``.qrels`` (see :mod:`gradedpr.data.qrels`);
- ``"hf"``: the same three tables stored with Hugging Face ``datasets`` (``save_to_disk`` directories,
  parquet or JSON lines): ``corpus``, ``queries``, ``qrels/<split>`` (see :mod:`gradedpr.data.hf`);
- ``"dpr"``: DPR retriever JSON ``<split>.json`` or ``.jsonl`` (see :mod:`gradedpr.data.dpr`). The corpus is
  the contexts of *every* split file (``corpus_splits``: all splits of the data config), whichever splits'
  judgments are read, so that indexing, training and evaluation see one corpus.

A new format is a function ``reader(request: LoadRequest) -> Collection`` decorated with
``@register_format(name, qrels_suffixes=..., needs_directory=...)`` (see docs/ARCHITECTURE.md).

Explicit file arguments (``corpus_file``, ``queries_file``, ``qrels_files``) may be absolute, relative to the
working directory, or relative to ``path``: the first that exists is used. Only the requested splits are read;
a requested split without a file is a :class:`~gradedpr.errors.DataError` naming the paths tried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gradedpr.data.beir import read_corpus_jsonl, read_queries
from gradedpr.data.corpus import Corpus
from gradedpr.data.corpus_cache import default_cache_dir
from gradedpr.data.dpr import read_dpr
from gradedpr.data.hf import QRELS_SUFFIXES as HF_QRELS_SUFFIXES
from gradedpr.data.hf import (
    find_table,
    hub_id,
    materialize_hub,
    read_corpus_table,
    read_qrels_table,
    read_queries_table,
)
from gradedpr.data.qrels import read_beir_qrels, read_trec_qrels
from gradedpr.errors import DataError

__all__ = ["FORMATS", "Collection", "CollectionFormat", "Corpus", "LoadRequest", "load_collection", "register_format"]


@dataclass
class Collection:
    """A corpus, its queries and the graded judgments of each loaded split.

    ``qrels[split][qid][docid]`` is the integer grade; judged grade-0 (and negative) rows are kept, unjudged
    pairs are absent. ``queries`` holds every query of the collection; :meth:`split_queries` those judged
    in one split. ``negatives`` holds hard negatives shipped with the data (DPR files), qid -> doc ids.
    """

    name: str
    corpus: Corpus
    queries: dict[str, str]
    qrels: dict[str, dict[str, dict[str, int]]]
    negatives: dict[str, list[str]] = field(default_factory=dict)

    def split_queries(self, split: str) -> dict[str, str]:
        """The queries that have judgments in ``split`` (qid -> text, in the order of the qrels file)."""
        if split not in self.qrels:
            raise KeyError(
                f"split {split!r} was not loaded for collection {self.name!r}; loaded: {sorted(self.qrels)}"
            )
        return {qid: self.queries[qid] for qid in self.qrels[split]}

    def counts(self) -> dict[str, int]:
        """Sizes for logs and reports: documents, queries, and per split its queries and judgment rows."""
        sizes = {"documents": len(self.corpus), "queries": len(self.queries)}
        for split, judgments in self.qrels.items():
            sizes[f"{split}_queries"] = len(judgments)
            sizes[f"{split}_qrels"] = sum(len(docs) for docs in judgments.values())
        return sizes


@dataclass(frozen=True)
class LoadRequest:
    """What a format reader is asked to load: the collection's place, the splits whose judgments are wanted
    (``files``: the file of each, already found), explicit files, the corpus cache and the collection's name."""

    root: Path
    splits: Sequence[str]
    files: Mapping[str, Path]
    label: str
    cache_dir: Path
    corpus_file: str | None = None
    queries_file: str | None = None
    qrels_files: Mapping[str, str] | None = None
    corpus_splits: Sequence[str] = ("train", "dev", "test")


FormatReader = Callable[[LoadRequest], Collection]


@dataclass(frozen=True)
class CollectionFormat:
    """A registered file format: its reader, the file names a split's judgments may have, and whether the
    collection is a directory (``folder/<split><suffix>`` files are looked up in ``split_folder``)."""

    name: str
    read: FormatReader
    qrels_suffixes: tuple[str, ...]
    split_folder: str
    needs_directory: bool


FORMATS: dict[str, CollectionFormat] = {}
"""Every registered collection format by name."""


def register_format(
    name: str, *, qrels_suffixes: tuple[str, ...], split_folder: str = "qrels", needs_directory: bool = True
) -> Callable[[FormatReader], FormatReader]:
    """Decorator registering ``reader`` as the collection format ``name``."""

    def decorator(reader: FormatReader) -> FormatReader:
        if name in FORMATS and FORMATS[name].read is not reader:
            raise ValueError(f"a collection format named {name!r} is already registered")
        FORMATS[name] = CollectionFormat(name, reader, qrels_suffixes, split_folder, needs_directory)
        return reader

    return decorator


def _resolve(root: Path, given: str | Path, what: str) -> Path:
    """``given`` as is (absolute, or relative to the working directory) if it exists, else under ``root``."""
    candidates = [Path(given)] if Path(given).is_absolute() else [Path(given), root / given]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise DataError(f"{what} not found (tried {tried})", candidates[-1])


def _find(root: Path, names: Sequence[str], what: str) -> Path:
    """The first of ``root/name`` that exists."""
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DataError(f"{what} not found (tried {', '.join(names)})", root)


def _split_files(
    fmt: CollectionFormat, root: Path, splits: Sequence[str], given: Mapping[str, str] | None
) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for split in splits:
        if given and split in given:
            files[split] = _resolve(root, given[split], f"{split} file")
            continue
        names = [f"{split}{suffix}" for suffix in fmt.qrels_suffixes]
        files[split] = _find(root / fmt.split_folder, names, f"{split} split ({fmt.name} format)")
    return files


def _dpr_corpus_files(
    root: Path, splits: Sequence[str], found: Mapping[str, Path], given: Mapping[str, str] | None
) -> dict[str, Path]:
    """The split files whose contexts make up a DPR corpus, in the order of ``splits`` (always the same
    files in the same order, so the corpus and its fingerprint do not depend on the splits a command reads)."""
    files: dict[str, Path] = {}
    for split in dict.fromkeys(splits):
        if split in found:
            files[split] = found[split]
            continue
        try:
            files[split] = _split_files(FORMATS["dpr"], root, [split], given)[split]
        except DataError:  # a split of the config without a file: not part of this corpus
            continue
    return files


def load_collection(
    format: str,
    path: str,
    splits: Sequence[str] = ("train", "dev", "test"),
    *,
    corpus_file: str | None = None,
    queries_file: str | None = None,
    qrels_files: Mapping[str, str] | None = None,
    name: str | None = None,
    cache_dir: str | None = None,
    corpus_splits: Sequence[str] = ("train", "dev", "test"),
) -> Collection:
    """Read and validate a collection; see the module docstring for the formats and file lookup.

    The corpus goes through an arrow cache in ``cache_dir`` (default :func:`default_cache_dir`) keyed by the
    source files' paths, sizes, modification times and contents, so an unchanged corpus is memory-mapped
    without being parsed again and a changed one is never served stale. ``name`` defaults to the folder name.
    ``corpus_splits`` (dpr only): the splits whose files make up the corpus besides ``splits`` (those of them
    without a file are skipped).
    """
    fmt = FORMATS.get(format.lower())
    if fmt is None:
        raise DataError(f"unknown collection format {format!r}; expected one of {tuple(FORMATS)}")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    repo = hub_id(path) if fmt.name == "hf" else None
    root = materialize_hub(repo, cache) if repo else Path(path)  # hf://owner/name: saved once, read locally
    if fmt.needs_directory and not root.is_dir():
        raise DataError(f"collection directory not found: {root}", root)
    if isinstance(splits, str):
        splits = [splits]
    if len(set(splits)) != len(splits):
        raise DataError(f"splits repeat a name: {list(splits)}")
    request = LoadRequest(
        root=root,
        splits=list(splits),
        files=_split_files(fmt, root, splits, qrels_files),
        label=name or (repo.split("/")[-1] if repo else root.resolve().name),
        cache_dir=cache,
        corpus_file=corpus_file,
        queries_file=queries_file,
        qrels_files=qrels_files,
        corpus_splits=tuple(corpus_splits),
    )
    return fmt.read(request)


def _read_beir_layout(request: LoadRequest, read_qrels: Callable[..., dict[str, dict[str, int]]]) -> Collection:
    """``corpus.jsonl`` + ``queries.jsonl`` (or ``.tsv``) + one qrels file per split, read by ``read_qrels``."""
    root = request.root
    if request.corpus_file:
        corpus_path = _resolve(root, request.corpus_file, "corpus file")
    else:
        corpus_path = _find(root, ["corpus.jsonl"], "corpus")
    if request.queries_file:
        queries_path = _resolve(root, request.queries_file, "queries file")
    else:
        queries_path = _find(root, ["queries.jsonl", "queries.tsv"], "queries")
    corpus = read_corpus_jsonl(corpus_path, request.cache_dir)
    queries = read_queries(queries_path)
    qrels = {split: read_qrels(file, queries, corpus) for split, file in request.files.items()}
    return Collection(request.label, corpus, queries, qrels)


@register_format("beir", qrels_suffixes=(".tsv",))
def read_beir_collection(request: LoadRequest) -> Collection:
    """BEIR: qrels ``qrels/<split>.tsv`` (``query-id<TAB>corpus-id<TAB>score``)."""
    return _read_beir_layout(request, read_beir_qrels)


@register_format("trec", qrels_suffixes=(".txt", ".qrels"))
def read_trec_collection(request: LoadRequest) -> Collection:
    """BEIR's corpus and queries with TREC qrels ``qrels/<split>.txt`` or ``.qrels`` (``qid iter docid grade``)."""
    return _read_beir_layout(request, read_trec_qrels)


@register_format("dpr", qrels_suffixes=(".json", ".jsonl"), split_folder=".", needs_directory=False)
def read_dpr_collection(request: LoadRequest) -> Collection:
    """DPR retriever JSON: questions, positive / negative / hard-negative contexts per split file."""
    if request.corpus_file or request.queries_file:
        raise DataError("the dpr format takes its corpus and questions from the split files only")
    every = _dpr_corpus_files(request.root, [*request.corpus_splits, *request.splits], request.files,
                              request.qrels_files)
    if not every:
        raise DataError(f"no DPR split files found (tried {', '.join(request.corpus_splits)} .json/.jsonl)",
                        request.root)
    data = read_dpr(every, request.cache_dir)
    qrels = {split: data.qrels[split] for split in request.splits}
    negatives = {qid: docs for qid, docs in data.negatives.items() if any(qid in q for q in qrels.values())}
    return Collection(request.label, data.corpus, data.queries, qrels, negatives)


@register_format("hf", qrels_suffixes=HF_QRELS_SUFFIXES)
def read_hf_collection(request: LoadRequest) -> Collection:
    """``datasets`` tables: ``corpus``, ``queries`` and ``qrels/<split>``, each a ``save_to_disk`` directory, a
    parquet or a JSON-lines file (``corpus_file`` / ``queries_file`` name others)."""
    corpus_path = find_table(request.root, "corpus", request.corpus_file)
    queries_path = find_table(request.root, "queries", request.queries_file)
    corpus = read_corpus_table(corpus_path, request.cache_dir)
    queries = read_queries_table(queries_path)
    qrels = {split: read_qrels_table(file, queries, corpus) for split, file in request.files.items()}
    return Collection(request.label, corpus, queries, qrels)
