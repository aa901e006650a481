"""Seeded subsets for generalization protocols: a random share of the training queries, and a random share of
the corpus held out from training ("unseen documents").

Both are pure functions of the ids and a seed, so a study can recompute exactly which queries a run saw and
which documents it never saw (no state file needed). Documents are held out by ranking them on
``sha256(f"{seed}:{docid}")`` and taking the first ``round(fraction * N)``: the choice of one document does not
depend on which other documents the corpus holds, and any language can recompute it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence

from gradedpr.errors import ConfigError
from gradedpr.types import Qrels


def sample_queries(qids: Iterable[str], size: int, seed: int) -> list[str]:
    """``size`` query ids drawn without replacement from ``qids`` (sorted first, so the draw depends only on the
    set of ids and the seed); all of them, sorted, when ``size`` >= their number."""
    pool = sorted(set(qids))
    if size < 1:
        raise ConfigError(f"train.query_subset={size}: must be >= 1")
    if size >= len(pool):
        return pool
    return sorted(random.Random(f"query-subset-{seed}").sample(pool, size))


def _rank_key(seed: int, docid: str) -> bytes:
    return hashlib.sha256(f"{seed}:{docid}".encode()).digest()


def heldout_documents(docids: Sequence[str], fraction: float, seed: int) -> frozenset[str]:
    """The ``round(fraction * len(docids))`` documents with the smallest ``sha256(f"{seed}:{docid}")``."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"train.heldout_docs={fraction}: must be in [0, 1)")
    count = round(fraction * len(docids))
    if count == 0:
        return frozenset()
    return frozenset(sorted(docids, key=lambda d: _rank_key(seed, d))[:count])


def drop_documents(qrels: Mapping[str, Mapping[str, int]], docs: frozenset[str] | set[str]) -> Qrels:
    """``qrels`` without the judgments of ``docs`` (queries left with none are dropped)."""
    kept = {qid: {d: g for d, g in judged.items() if d not in docs} for qid, judged in qrels.items()}
    return {qid: judged for qid, judged in kept.items() if judged}


def only_documents(qrels: Mapping[str, Mapping[str, int]], docs: frozenset[str] | set[str]) -> Qrels:
    """The judgments of ``docs`` only, for queries that keep at least one relevant (grade > 0) document: the
    qrels of an evaluation restricted to those documents (every other document counts as not relevant)."""
    kept = {qid: {d: g for d, g in judged.items() if d in docs} for qid, judged in qrels.items()}
    return {qid: judged for qid, judged in kept.items() if any(g > 0 for g in judged.values())}


def top_grade_only(qrels: Mapping[str, Mapping[str, int]]) -> Qrels:
    """Only the judgments at the collection's highest grade, for the queries that have one: nDCG on these
    qrels rewards a ranking for its top-grade documents alone, so it separates a loss that orders grades from
    one that only separates relevant from not relevant."""
    top = max((g for judged in qrels.values() for g in judged.values()), default=0)
    kept = {qid: {d: g for d, g in judged.items() if g == top} for qid, judged in qrels.items()}
    return {qid: judged for qid, judged in kept.items() if judged and top > 0}


def judged_elsewhere(qrels: Mapping[str, Mapping[str, int]], other: Mapping[str, Mapping[str, int]]) -> tuple[int, int]:
    """How many judged pairs ``qrels`` holds, and how many of them name a document that ``other`` (e.g. the
    training qrels) also judges: the share a model can learn transductively."""
    seen = {docid for judged in other.values() for docid in judged}
    pairs = [docid for judged in qrels.values() for docid in judged]
    return len(pairs), sum(docid in seen for docid in pairs)
