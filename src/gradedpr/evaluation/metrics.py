"""Ranking metrics that reproduce trec_eval 9.0.8 (as bundled in pytrec_eval) query by query, vectorised.

Rules, as trec_eval implements them (``form_res_rels.c``, ``m_ndcg_cut.c``, ``m_map.c``, ...):

* Ranking: documents are ordered by score descending, scores compared as **float32** (0.9 and 0.900000001
  tie), ties broken by document id in **descending** string order (byte order of UTF-8 = code point order).
  The order in which documents are given and any rank column are ignored.
* Gain (nDCG) is the integer grade itself (linear); only grades > 0 give gain; negative grades mean
  "unjudged". Discount 1 / log2(rank + 1), rank from 1, applied as trec_eval does: ``grade / log2(rank + 1)``
  (a division, not a product with the reciprocal) summed in rank order, so values are bit-identical.
* The ideal DCG uses every judged document of the query with grade > 0, retrieved or not, cut at the same K.
* Binary measures (recall, precision, mrr, map) count a document as relevant when its grade >= 1.
  ``recall@K`` = relevant in top K / all relevant of the query; ``precision@K`` = relevant in top K / K
  (even if fewer than K were retrieved); ``mrr@K`` = 1 / rank of the first relevant document if it is
  within the top K; ``map`` = sum over retrieved relevant documents of precision at their rank / all
  relevant of the query.
* A query without any relevant judged document scores 0 on every measure.
* Queries of the run that are absent from the qrels are ignored.

Which queries are averaged (``mean_over``):

* ``"qrels"`` (default) is trec_eval ``-c``: the mean runs over **every query of the qrels** (trec_eval's
  ``num_q_rels`` counts every qid that has a qrels line, also one with only grade-0 or negative judgments); a
  qrels query absent from the run scores 0 on every measure. ``per_query`` then holds every qrels query.
* ``"both"`` is pytrec_eval's (and trec_eval's default without ``-c``): only queries present in both the run
  and the qrels (a run query with an empty document mapping counts as present). ``per_query`` holds those
  queries.

Both modes raise ``DataError`` when no query is in both the run and the qrels (trec_eval refuses such input).

Only the ranks of relevant retrieved documents matter to these measures, so they are the only ranks computed:
a document's rank is 1 + the number of documents of its query with a greater float32 score + the number of
documents with an equal float32 score and a greater id. The first two terms come from one global sort of
(query, score) keys packed into uint64; the id comparisons are done only for documents that really tie.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from gradedpr.errors import DataError
from gradedpr.evaluation.measures import DEFAULT_MEASURES, Measure, parse_measures

MeanOver = Literal["qrels", "both"]
"""Which queries a mean is over: every qrels query (trec_eval -c) or those in run and qrels (pytrec_eval)."""

_MEAN_OVER: tuple[MeanOver, ...] = ("qrels", "both")


def parse_mean_over(text: str) -> MeanOver:
    """``text`` as a :data:`MeanOver` choice; ``ValueError`` naming the choices otherwise."""
    for choice in _MEAN_OVER:
        if text == choice:
            return choice
    raise ValueError(f"mean_over={text} is not one of qrels (trec_eval -c), both (pytrec_eval)")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass
class EvalResult:
    """Per-query values, their mean, how many queries the mean is over and which rule chose them.

    ``mean_over`` is ``"qrels"`` (trec_eval -c) or ``"both"`` (pytrec_eval); ``measures`` lists the measure
    names in the order they were requested (the keys of ``mean`` and of every ``per_query`` entry).
    """

    per_query: dict[str, dict[str, float]]
    mean: dict[str, float]
    num_queries: int
    mean_over: MeanOver
    measures: tuple[str, ...] = field(default=())


def _descending_keys(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """uint64 keys, one per score, that sort ascending exactly as the float32 scores sort descending.

    float32 conversion rounds to nearest (as C does); -0.0 is folded into 0.0 so that they tie, as in C.
    """
    with np.errstate(over="ignore"):
        scores32 = scores.astype(np.float32) + np.float32(0.0)
    bits = scores32.view(np.uint32)
    negative = (bits & np.uint32(0x80000000)) != 0
    ascending = np.where(negative, ~bits, bits | np.uint32(0x80000000))
    return (~ascending).astype(np.uint64)


def _as_grade(value: object, qid: str, doc: str) -> int:
    """Integer grade of a qrels entry; anything but an integral number raises DataError."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise DataError(f"qrels grade {value!r} of query {qid!r}, document {doc!r} is not an integer")


@dataclass
class _Judgments:
    """Relevant (grade >= 1) judged documents of the evaluated queries, with ranks where retrieved."""

    query: IntArray  # index of the query in the evaluated list
    grade: IntArray  # grade >= 1
    rank: IntArray  # 1-based trec_eval rank, 0 when not retrieved
    num_queries: int


def _relevant_ranks(
    qids: list[str], run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]
) -> _Judgments:
    """Collect every relevant judged document of ``qids`` and compute the trec_eval rank of retrieved ones."""
    rel_query: list[int] = []
    rel_grade: list[int] = []
    hit_pos: list[int] = []  # index into rel_* of retrieved relevant documents
    hit_score: list[float] = []
    hit_doc: list[str] = []
    for index, qid in enumerate(qids):
        docs = run.get(qid)
        for doc, raw in qrels[qid].items():
            grade = raw if type(raw) is int else _as_grade(raw, qid, doc)
            if grade <= 0:
                continue
            if docs is not None:
                score = docs.get(doc)
                if score is not None:
                    hit_pos.append(len(rel_query))
                    hit_score.append(score)
                    hit_doc.append(doc)
            rel_query.append(index)
            rel_grade.append(grade)

    query = np.asarray(rel_query, dtype=np.int64)
    rank = np.zeros(len(rel_query), dtype=np.int64)
    if hit_pos:
        positions = np.asarray(hit_pos, dtype=np.int64)
        scores = np.asarray(hit_score, dtype=np.float64)
        rank[positions] = _ranks_of(qids, run, query[positions], scores, hit_doc)
    return _Judgments(query, np.asarray(rel_grade, dtype=np.int64), rank, len(qids))


def _ranks_of(
    qids: list[str],
    run: Mapping[str, Mapping[str, float]],
    hit_query: IntArray,
    hit_score: FloatArray,
    hit_doc: list[str],
) -> IntArray:
    """trec_eval ranks of the given retrieved documents (query index, score, id) within their queries."""
    ranked_queries = np.unique(hit_query)
    docs_of = [run[qids[q]] for q in ranked_queries.tolist()]
    lengths = np.fromiter((len(d) for d in docs_of), dtype=np.int64, count=len(docs_of))
    total = int(lengths.sum())
    scores = np.fromiter(
        itertools.chain.from_iterable(d.values() for d in docs_of), dtype=np.float64, count=total
    )
    if np.isnan(scores).any():
        where = int(np.searchsorted(np.cumsum(lengths), int(np.flatnonzero(np.isnan(scores))[0]), "right"))
        raise DataError(f"the run has a NaN score for query {qids[int(ranked_queries[where])]!r}")
    offsets = np.zeros(len(docs_of) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # slot = position of the query among ranked_queries; keys pack (slot, descending float32 score).
    slot_of_run = np.repeat(np.arange(len(docs_of), dtype=np.uint64), lengths)
    score_keys = _descending_keys(scores)
    run_keys = np.sort((slot_of_run << np.uint64(32)) | score_keys, kind="stable")  # stable: faster here
    hit_slot = np.searchsorted(ranked_queries, hit_query)
    hit_keys = (hit_slot.astype(np.uint64) << np.uint64(32)) | _descending_keys(hit_score)
    before = np.searchsorted(run_keys, hit_keys, side="left")
    through = np.searchsorted(run_keys, hit_keys, side="right")
    start = offsets[hit_slot]
    rank = before - start + 1
    tied = np.flatnonzero(through - before > 1)
    if tied.size:
        rank[tied] += _tie_offsets(tied, hit_slot, hit_keys, hit_doc, docs_of, score_keys, offsets)
    return rank


def _tie_offsets(
    tied: IntArray,
    hit_slot: IntArray,
    hit_keys: npt.NDArray[np.uint64],
    hit_doc: list[str],
    docs_of: list[Mapping[str, float]],
    score_keys: npt.NDArray[np.uint64],
    offsets: IntArray,
) -> IntArray:
    """For documents whose float32 score ties with others: how many of the tied documents have a greater id.

    Each tie group (query, float32 score) is collected once from the query's scores and its ids sorted; a
    document's offset is then one bisection. Python string order is code point order, which is the byte order
    of UTF-8 that trec_eval's ``strcmp`` uses.
    """
    groups: dict[tuple[int, int], list[str]] = {}
    query_ids: dict[int, list[str]] = {}
    extra = np.zeros(tied.size, dtype=np.int64)
    low_bits = np.uint64(0xFFFFFFFF)
    for out, hit in enumerate(tied.tolist()):
        slot = int(hit_slot[hit])
        score_key = hit_keys[hit] & low_bits
        group = groups.get((slot, int(score_key)))
        if group is None:
            if slot not in query_ids:
                query_ids[slot] = list(docs_of[slot].keys())
            ids = query_ids[slot]
            members = np.flatnonzero(score_keys[offsets[slot] : offsets[slot + 1]] == score_key)
            group = sorted(ids[m] for m in members.tolist())
            groups[(slot, int(score_key))] = group
        extra[out] = len(group) - bisect.bisect_right(group, hit_doc[hit])
    return extra


def _segment_positions(segment: IntArray) -> IntArray:
    """1-based position of every element within its run of equal values in a sorted ``segment`` array."""
    if segment.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    lengths = np.diff(np.r_[starts, segment.size])
    return np.arange(segment.size, dtype=np.int64) - np.repeat(starts, lengths) + 1


def _discounted(gain: FloatArray, rank: IntArray) -> FloatArray:
    """``gain / log2(rank + 1)``, divided as trec_eval divides (``gain * (1 / log2)`` can differ by an ulp
    for gains that are not powers of two)."""
    return gain / np.log2(rank.astype(np.float64) + 1.0)


def _compute(judgments: _Judgments, measures: list[Measure]) -> dict[str, FloatArray]:
    """Per-query values (arrays over the evaluated queries) for every measure."""
    nq = judgments.num_queries
    num_rel = np.bincount(judgments.query, minlength=nq).astype(np.float64)
    has_rel = num_rel > 0
    safe_rel = np.where(has_rel, num_rel, 1.0)

    retrieved = judgments.rank > 0
    order = np.lexsort((judgments.rank[retrieved], judgments.query[retrieved]))
    hit_query = judgments.query[retrieved][order]  # sorted by (query, rank): trec_eval's summation order
    hit_rank = judgments.rank[retrieved][order]
    hit_grade = judgments.grade[retrieved][order].astype(np.float64)
    hit_gain = _discounted(hit_grade, hit_rank)
    hit_precision = _segment_positions(hit_query) / hit_rank  # i-th relevant retrieved at rank r: i / r

    ideal_order = np.lexsort((-judgments.grade, judgments.query))
    ideal_query = judgments.query[ideal_order]
    ideal_pos = _segment_positions(ideal_query)
    ideal_gain = _discounted(judgments.grade[ideal_order].astype(np.float64), ideal_pos)

    first_rank = np.zeros(nq, dtype=np.int64)
    if hit_query.size:
        starts = np.flatnonzero(np.r_[True, hit_query[1:] != hit_query[:-1]])
        first_rank[hit_query[starts]] = hit_rank[starts]

    values: dict[str, FloatArray] = {}
    for measure in measures:
        k = measure.cutoff
        within = np.ones(hit_rank.size, dtype=bool) if k is None else hit_rank <= k
        if measure.kind == "ndcg":
            dcg = np.bincount(hit_query[within], weights=hit_gain[within], minlength=nq)
            ideal_within = np.ones(ideal_pos.size, dtype=bool) if k is None else ideal_pos <= k
            idcg = np.bincount(ideal_query[ideal_within], weights=ideal_gain[ideal_within], minlength=nq)
            value = np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)
        elif measure.kind == "recall":
            count = np.bincount(hit_query[within], minlength=nq).astype(np.float64)
            value = np.where(has_rel, count / safe_rel, 0.0)
        elif measure.kind == "precision":
            assert k is not None
            value = np.bincount(hit_query[within], minlength=nq).astype(np.float64) / float(k)
        elif measure.kind == "map":
            total = np.bincount(hit_query[within], weights=hit_precision[within], minlength=nq)
            value = np.where(has_rel, total / safe_rel, 0.0)
        else:  # mrr
            found = (first_rank > 0) & (first_rank <= (k if k is not None else np.iinfo(np.int64).max))
            value = np.where(found, 1.0 / np.where(found, first_rank, 1), 0.0)
        values[measure.name] = value.astype(np.float64)
    return values


def evaluate_run(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    measures: Sequence[str] | str = DEFAULT_MEASURES,
    *,
    mean_over: MeanOver = "qrels",
) -> EvalResult:
    """Evaluate ``run`` (qid -> docid -> score) against ``qrels`` (qid -> docid -> grade), trec_eval-exact.

    ``measures``: names such as ``ndcg@10``, ``recall@100``, ``precision@5``, ``mrr@10``, ``map``, ``ndcg``
    (see ``gradedpr.evaluation.measures``). ``mean_over``: ``"qrels"`` (default; trec_eval ``-c``: every
    qrels query, those missing from the run scoring 0) or ``"both"`` (pytrec_eval: queries in run and qrels).
    See the module docstring for the exact rules. ``per_query`` follows the qrels' query order.

    Raises ``DataError`` for a NaN score (checked in every query with a relevant retrieved document; elsewhere
    it could not change a value), a non-integer grade, or when no query is in both run and qrels;
    ``ValueError`` for an unknown measure name or ``mean_over``.
    """
    if mean_over not in _MEAN_OVER:
        raise ValueError(f"mean_over must be one of {_MEAN_OVER}, got {mean_over!r}")
    parsed = parse_measures(measures)
    if not any(qid in qrels for qid in run):
        raise DataError("no query of the run appears in the qrels (check that the query ids match)")
    qids = list(qrels) if mean_over == "qrels" else [qid for qid in qrels if qid in run]
    values = _compute(_relevant_ranks(qids, run, qrels), parsed)

    names = [m.name for m in parsed]
    columns = [values[name].tolist() for name in names]
    rows = zip(*columns, strict=True)
    per_query = {qid: dict(zip(names, row, strict=True)) for qid, row in zip(qids, rows, strict=True)}
    mean = {name: float(values[name].sum() / len(qids)) for name in names}
    return EvalResult(per_query=per_query, mean=mean, num_queries=len(qids), mean_over=mean_over,
                      measures=tuple(names))


def list_ndcg(
    scores: Sequence[float], labels: Sequence[int], k: int | None = None, ids: Sequence[str] | None = None
) -> float:
    """Exact trec_eval-style NDCG(@k) of one ranked list given its scores and integer labels.

    Same rules as ``evaluate_run``: float32 score comparison, ties broken by ``ids`` in descending string
    order, linear gain from labels > 0, discount 1/log2(rank+1). The ideal DCG comes from the labels
    **in this list** (the list is the query's whole judged set). Without ``ids``, ties are broken as if the
    ids were the positions 0..n-1 compared as numbers, i.e. the later item ranks first. Returns 0 when no
    label is > 0.
    """
    score_arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    label_arr = np.asarray(labels).reshape(-1)
    n = score_arr.size
    if label_arr.size != n:
        raise ValueError(f"{n} scores but {label_arr.size} labels")
    if ids is not None and len(ids) != n:
        raise ValueError(f"{n} scores but {len(ids)} ids")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if np.isnan(score_arr).any():
        raise ValueError("NaN score")
    if label_arr.size and not np.all(np.equal(np.mod(label_arr, 1), 0)):
        raise ValueError("labels must be integers")
    grades = label_arr.astype(np.int64)
    keys = _descending_keys(score_arr).tolist()
    if ids is None:
        order = sorted(range(n), key=lambda i: (keys[i], -i))
    else:
        if len(set(ids)) != n:
            raise ValueError("ids must be unique")
        # ascending key = descending score; id descending: sort by id ascending, reversed within ties
        by_id = sorted(range(n), key=lambda i: ids[i], reverse=True)
        order = sorted(by_id, key=lambda i: keys[i])
    cut = n if k is None else min(k, n)
    ranked = grades[np.asarray(order, dtype=np.int64)][:cut] if n else grades[:0]
    positive = ranked > 0
    ranks = np.arange(1, ranked.size + 1, dtype=np.int64)
    dcg = _sequential_sum(_discounted(ranked[positive].astype(np.float64), ranks[positive]))
    ideal = np.sort(grades[grades > 0])[::-1][: (grades.size if k is None else k)]
    idcg = _sequential_sum(_discounted(ideal.astype(np.float64), np.arange(1, ideal.size + 1, dtype=np.int64)))
    return dcg / idcg if idcg > 0 else 0.0


def _sequential_sum(values: FloatArray) -> float:
    """Left-to-right sum (trec_eval's order; ``np.sum`` is pairwise and can differ in the last bits)."""
    return float(np.cumsum(values)[-1]) if values.size else 0.0
