"""A searchable index directory: the FAISS index, its id map, and metadata that ties it to encoder and corpus.

Directory layout (written atomically with :func:`~gradedpr.utils.atomic.atomic_directory`)::

    index.faiss   the CPU FAISS index (row i = i-th line of ids.txt)
    ids.txt       document ids, one per line
    index.json    dimension, metric, index type / parameters / factory string, the encoder checkpoint and
                  fingerprints of both its sides, the model settings, the corpus name and fingerprint

Loading with a model and/or corpus checks them against the metadata: an index built by another passage
encoder (weights, pooling, similarity, max length) or over another corpus raises
:class:`~gradedpr.errors.CheckpointError`, unless ``allow_mismatch`` is set (then it only warns).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from gradedpr.data.ids import take_ids
from gradedpr.encode.fingerprint import PassageSource, corpus_fingerprint, encoder_fingerprint, encoder_settings
from gradedpr.encode.store import read_ids, read_json, write_ids
from gradedpr.errors import CheckpointError, ConfigError
from gradedpr.filenames import IDS_FILE
from gradedpr.index.faiss_build import (
    METRIC,
    BuiltIndex,
    IndexSpec,
    apply_search_parameters,
    to_gpu,
    wants_gpu,
)
from gradedpr.index.search import DEFAULT_SEARCH_BATCH, search
from gradedpr.model.biencoder import BiEncoder
from gradedpr.utils.atomic import atomic_directory, recover_directory
from gradedpr.utils.oserrors import at_target, write_failure
from gradedpr.utils.outputs import OutputKind

log = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
META_FILE = "index.json"
FORMAT_VERSION = 1
INDEX = OutputKind("a gradedpr index", META_FILE, ("format_version", "index", "encoder"),
                   frozenset({INDEX_FILE, IDS_FILE}))
"""An index directory: ``index.json`` with gradedpr's format fields, the FAISS file and the id map."""


def index_metadata(
    built: BuiltIndex,
    model: BiEncoder,
    corpus_fp: str,
    num_passages: int,
    checkpoint: str | None = None,
    corpus_name: str | None = None,
    passage_fp: str | None = None,
) -> dict[str, Any]:
    """The ``index.json`` content for an index just built from ``model``'s passage encoder."""
    return {
        "format_version": FORMAT_VERSION,
        "dim": int(built.index.d),
        "metric": METRIC,
        "num_vectors": int(built.index.ntotal),
        "index": {
            "type": built.type,
            "params": built.params,
            "factory": built.factory,
            "search_parameters": built.search_parameters,
            "train_seconds": built.train_seconds,
            "add_seconds": built.add_seconds,
        },
        "encoder": {
            "checkpoint": checkpoint,
            "passage_fingerprint": passage_fp or encoder_fingerprint(model, "passage"),
            "query_fingerprint": encoder_fingerprint(model, "query"),
            "settings": model.config.to_dict(),
            "passage_settings": encoder_settings(model, "passage"),
        },
        "corpus": {"name": corpus_name, "fingerprint": corpus_fp, "num_passages": num_passages},
        "faiss_version": faiss.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@dataclass
class DenseIndex:
    """A FAISS index with its id map and metadata. ``search`` returns document ids, best first."""

    index: faiss.Index
    ids: Sequence[str]
    meta: dict[str, Any]
    _searcher: faiss.Index | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if int(self.index.ntotal) != len(self.ids):
            raise CheckpointError(f"index holds {self.index.ntotal} vectors but the id map {len(self.ids)} ids")

    @property
    def spec(self) -> IndexSpec:
        info = self.meta.get("index", {})
        return IndexSpec(str(info.get("type", "flat")), dict(info.get("params") or {}))

    def set_search_parameters(self, parameters: str) -> None:
        """Change search-time parameters (``"nprobe=64"``, ``"efSearch=256"``) and record them."""
        self.meta.setdefault("index", {})["search_parameters"] = parameters
        apply_search_parameters(self.index, parameters)
        if self._searcher is not None and self._searcher is not self.index:
            apply_search_parameters(self._searcher, parameters)

    def searcher(self) -> faiss.Index:
        """The index searches run on: a GPU copy when FAISS has GPUs and the type supports it."""
        if self._searcher is None:
            self._searcher = self.index
            if wants_gpu(self.spec):
                self._searcher = to_gpu(self.index)
                apply_search_parameters(self._searcher, str(self.meta.get("index", {}).get("search_parameters", "")))
        return self._searcher

    def search(
        self,
        query_emb: npt.NDArray[np.float32],
        k: int,
        batch_size: int = DEFAULT_SEARCH_BATCH,
        show_progress: bool = False,
        stats: dict[str, Any] | None = None,
    ) -> tuple[npt.NDArray[np.float32], list[list[str]]]:
        """Top-``k`` scores ``[nq, k']`` and document ids per query (missing results dropped from the ids)."""
        scores, rows = search(self.searcher(), query_emb, k, batch_size, show_progress, stats)
        found = rows >= 0
        names = take_ids(self.ids, rows[found])  # row-major: each query's hits in rank order
        ends = np.cumsum(found.sum(axis=1)).tolist()
        docids = [names[begin:end] for begin, end in zip([0, *ends][:-1], ends, strict=True)]
        return scores, docids

    # ------------------------------------------------------------------ checks
    def mismatches(self, model: BiEncoder | None = None, corpus: PassageSource | None = None,
                   corpus_fp: str | None = None) -> list[str]:
        """Human-readable differences between this index and the given model / corpus."""
        problems: list[str] = []
        encoder = self.meta.get("encoder", {})
        if model is not None:
            if model.dim != int(self.meta.get("dim", -1)):
                problems.append(f"dimension: index {self.meta.get('dim')}, model {model.dim}")
            have = encoder_fingerprint(model, "passage")
            if have != encoder.get("passage_fingerprint"):
                settings = encoder_settings(model, "passage")
                built = encoder.get("passage_settings", {})
                diff = [f"{k} {built.get(k)!r} -> {v!r}" for k, v in settings.items() if built.get(k) != v]
                problems.append(
                    "passage encoder: the index was built from checkpoint "
                    f"{encoder.get('checkpoint')!r} (passage fingerprint {encoder.get('passage_fingerprint')}), "
                    f"this model's passage encoder has fingerprint {have}"
                    + (f" (settings differ: {', '.join(diff)})" if diff else " (different weights)")
                )
        if corpus is not None or corpus_fp is not None:
            fingerprint = corpus_fp or corpus_fingerprint(corpus)  # type: ignore[arg-type]
            info = self.meta.get("corpus", {})
            if fingerprint != info.get("fingerprint"):
                count = f", {len(corpus)} passages" if corpus is not None else ""
                problems.append(
                    f"corpus: the index covers {info.get('name')!r} ({info.get('num_passages')} passages, "
                    f"fingerprint {info.get('fingerprint')}), the given corpus has fingerprint {fingerprint}{count}"
                )
        return problems

    def check(self, model: BiEncoder | None = None, corpus: PassageSource | None = None,
              allow_mismatch: bool = False, where: str | Path | None = None) -> None:
        """Raise CheckpointError if the index was not built from ``model`` over ``corpus``."""
        problems = self.mismatches(model, corpus)
        if not problems:
            return
        place = f"{where}: " if where is not None else ""
        message = (f"{place}index does not match: " + "; ".join(problems)
                   + ". Rebuild it with scripts/index.py for this checkpoint and data, or set allow_mismatch=true.")
        if allow_mismatch:
            log.warning("%s (allowed by allow_mismatch)", message)
            return
        raise CheckpointError(message)

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path, *, overwrite: bool = True) -> Path:
        """Write index, id map and metadata atomically to ``directory``, replacing an older index there if
        ``overwrite``; a directory holding anything else raises :class:`~gradedpr.errors.OutputError`."""
        with atomic_directory(directory, INDEX, overwrite=overwrite) as tmp:
            try:
                faiss.write_index(self.index, str(tmp / INDEX_FILE))
            except RuntimeError as exc:  # FAISS reports a failed fwrite as a RuntimeError
                raise write_failure(Path(directory) / INDEX_FILE, exc) from exc
            except OSError as exc:
                raise at_target(exc, tmp, directory) from exc
            write_ids(tmp / IDS_FILE, self.ids)
            (tmp / META_FILE).write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return Path(directory)

    @classmethod
    def load(
        cls,
        directory: str | Path,
        model: BiEncoder | None = None,
        corpus: PassageSource | None = None,
        allow_mismatch: bool = False,
        search_parameters: str | None = None,
        mmap: bool = False,
    ) -> DenseIndex:
        """Load an index directory; check it against ``model`` / ``corpus`` when they are given.

        ``search_parameters`` overrides the stored ones; ``mmap`` maps the index file instead of reading it.
        """
        directory = Path(directory)
        recover_directory(directory)
        if not (directory / META_FILE).is_file():
            raise CheckpointError(f"{directory}: not an index directory (no {META_FILE}); build one with "
                                  "scripts/index.py")
        meta = read_json(directory / META_FILE)
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise CheckpointError(f"{directory}: index format {meta.get('format_version')} is newer than this "
                                  f"gradedpr ({FORMAT_VERSION})")
        try:
            flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
            index = faiss.read_index(str(directory / INDEX_FILE), flags)
        except RuntimeError as exc:
            raise CheckpointError(f"{directory / INDEX_FILE}: cannot read the FAISS index: {exc}") from exc
        ids = read_ids(directory / IDS_FILE)
        try:
            loaded = cls(index, ids, meta)
        except CheckpointError as exc:  # the id map does not fit the index
            raise CheckpointError(f"{directory}: {exc}") from None
        loaded.check(model, corpus, allow_mismatch, where=directory)
        parameters = search_parameters if search_parameters is not None else meta.get("index", {}).get(
            "search_parameters", "")
        try:
            loaded.set_search_parameters(str(parameters or ""))
        except RuntimeError as exc:
            reason = re.sub(r"^Error in .*? at \S+:\d+: (?:(?:\w+::)+\w+:\s*)?", "", " ".join(str(exc).split()))
            raise ConfigError(f"search_params={parameters!r}: FAISS rejects it for the "
                              f"{meta.get('index', {}).get('factory')} index in {directory}: {reason}") from None
        return loaded
