"""A fixed dev candidate pool for the full regime (``train.dev_pool=k``): dev evaluations rank only the pool,
so each re-encodes the pool's passages, not the whole corpus.

The pool is each dev query's top ``k`` documents under the start model plus every document judged for a dev
query, fixed before the first step and kept in ``<run_dir>/dev_pool.json`` (a resumed run reads it back: the
model it resumes is no longer the start model). Dev values on the pool are a re-ranking measure: a document
outside the pool cannot be retrieved, so they can differ from whole-corpus values; the test split is always
scored on the whole corpus. The cost of a dev evaluation falls from the corpus size to the pool size
(``docs/RESULTS.md``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path

from gradedpr.data.collection import Collection
from gradedpr.data.corpus import Corpus
from gradedpr.errors import CheckpointError
from gradedpr.index.retrieval import retrieve
from gradedpr.model.biencoder import BiEncoder
from gradedpr.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)
POOL_FILE = "dev_pool.json"


def pool_documents(model: BiEncoder, collection: Collection, split: str, k: int, batch_size: int = 64) -> list[str]:
    """The top ``k`` of every query of ``split`` under ``model`` plus its judged documents, in corpus order."""
    run = retrieve(model, collection, split, k=k, batch_size=batch_size, show_progress=False)
    docs = {docid for ranking in run.values() for docid in ranking}
    docs |= {docid for judged in collection.qrels[split].values() for docid in judged}
    return sorted(docs, key=collection.corpus.row)


def pool_collection(collection: Collection, docs: list[str]) -> Collection:
    """``collection`` with its corpus restricted to ``docs`` (queries and judgments unchanged)."""
    rows = [collection.corpus.row(docid) for docid in docs]
    digest = hashlib.sha256("\n".join(docs).encode("utf-8")).hexdigest()[:16]
    corpus = Corpus(collection.corpus.dataset.select(rows),
                    fingerprint=f"{collection.corpus.fingerprint}-pool-{digest}")
    return replace(collection, corpus=corpus)


def dev_pool(run_dir: Path, model: BiEncoder, collection: Collection, split: str, k: int,
             batch_size: int = 64) -> Collection:
    """The pool of ``split`` as a collection: read from ``run_dir/dev_pool.json`` when an earlier start of this
    run fixed it (same split and k), else fixed now with ``model`` (the start model) and written there."""
    path = run_dir / POOL_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("split") != split or saved.get("k") != k:
            raise CheckpointError(f"{path}: a pool of split {saved.get('split')!r} at k={saved.get('k')}, but this "
                                  f"run asks for {split!r} at k={k} (train.dev_pool)")
        docs = [str(d) for d in saved["docs"]]
    else:
        docs = pool_documents(model, collection, split, k, batch_size)
        atomic_write_text(path, json.dumps({"split": split, "k": k, "docs": docs}) + "\n")
    log.info("dev pool: %d of %d documents (top %d of %d %s queries + their judged documents)", len(docs),
             len(collection.corpus), k, len(collection.qrels[split]), split)
    return pool_collection(collection, docs)
