"""Per-grade results: does a run put the top-grade documents first?

For every relevance grade of the qrels (grade 0, judged not relevant, included), over the queries of the
qrels that have at least one document of that grade:

- ``recall@k``: the share of the query's documents of that grade ranked in the top ``k``, averaged over those
  queries (a query without a document of the grade does not count);
- ``found``: the share of the grade's documents (all queries pooled) that the run retrieved at all;
- ``mean_rank``: the mean rank (1 = first) of the grade's retrieved documents, all queries pooled;
- ``queries`` and ``documents``: how many queries have the grade, how many documents carry it.

Ranks follow trec_eval 9.0.8 (:func:`gradedpr.data.runs.ranking_order`: float32 score descending, ties by
docid descending). A query of the qrels that the run lacks retrieves nothing (recall 0, nothing found).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradedpr.data.runs import ranking_order

DEFAULT_CUTOFFS: tuple[int, ...] = (10, 100)


@dataclass
class GradeResult:
    grade: int
    queries: int
    documents: int
    recall: dict[int, float] = field(default_factory=dict)  # cutoff -> mean recall over the queries
    found: float = 0.0
    mean_rank: float | None = None  # None: no document of the grade was retrieved

    def to_dict(self) -> dict[str, Any]:
        return {"grade": self.grade, "queries": self.queries, "documents": self.documents,
                **{f"recall@{k}": v for k, v in self.recall.items()}, "found": self.found,
                "mean_rank": self.mean_rank}


def per_grade(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
              cutoffs: Sequence[int] = DEFAULT_CUTOFFS) -> list[GradeResult]:
    """One :class:`GradeResult` per grade of ``qrels``, highest grade first."""
    cutoffs = sorted({int(k) for k in cutoffs})
    recall_sums: dict[int, dict[int, float]] = {}
    queries: dict[int, int] = {}
    documents: dict[int, int] = {}
    found: dict[int, int] = {}
    rank_sums: dict[int, int] = {}
    for qid, judged in qrels.items():
        ranks = {doc: rank for rank, (doc, _) in enumerate(ranking_order(run.get(qid, {})), start=1)}
        by_grade: dict[int, list[str]] = {}
        for doc, grade in judged.items():
            by_grade.setdefault(int(grade), []).append(doc)
        for grade, docs in by_grade.items():
            queries[grade] = queries.get(grade, 0) + 1
            documents[grade] = documents.get(grade, 0) + len(docs)
            doc_ranks = [ranks[d] for d in docs if d in ranks]
            found[grade] = found.get(grade, 0) + len(doc_ranks)
            rank_sums[grade] = rank_sums.get(grade, 0) + sum(doc_ranks)
            sums = recall_sums.setdefault(grade, dict.fromkeys(cutoffs, 0.0))
            for k in cutoffs:
                sums[k] += sum(1 for r in doc_ranks if r <= k) / len(docs)
    results = []
    for grade in sorted(queries, reverse=True):
        n = found[grade]
        results.append(GradeResult(
            grade=grade, queries=queries[grade], documents=documents[grade],
            recall={k: recall_sums[grade][k] / queries[grade] for k in cutoffs},
            found=n / documents[grade], mean_rank=rank_sums[grade] / n if n else None))
    return results


def format_per_grade(results: Sequence[GradeResult]) -> str:
    """A Markdown table (plain-text readable): one row per grade, 4 decimals, mean rank with 1 decimal."""
    cutoffs = list(results[0].recall) if results else []
    header = ["grade", "queries", "documents", *(f"recall@{k}" for k in cutoffs), "found", "mean rank"]
    lines = [header]
    for r in results:
        rank = "-" if r.mean_rank is None or math.isnan(r.mean_rank) else f"{r.mean_rank:.1f}"
        lines.append([str(r.grade), str(r.queries), str(r.documents), *(f"{r.recall[k]:.4f}" for k in cutoffs),
                      f"{r.found:.4f}", rank])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])]) + "\n"
