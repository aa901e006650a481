"""Property tests: evaluate_run equals pytrec_eval (trec_eval 9.0.8) query by query on random runs and qrels.

The generated data is hostile on purpose: many exact ties, scores that tie only in float32 (0.9 vs
0.900000001), -0.0 vs 0.0, ids whose string order differs from numeric order and that contain non-ASCII
characters, relevant documents that were not retrieved, grade-0 and negative judgments, qrels queries
missing from the run, run queries missing from the qrels, queries with no documents.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradedpr.evaluation import evaluate_run, list_ndcg, parse_measures, ranking_order

pytrec_eval = pytest.importorskip("pytrec_eval")

NDCG_CUTS = (1, 2, 3, 5, 10)
OTHER_CUTS = (1, 3, 10)
MRR_CUTS = (1, 3, 10)
OUR_MEASURES = (
    [f"ndcg@{k}" for k in NDCG_CUTS]
    + ["ndcg", "map", "map@2", "map@5", "mrr"]
    + [f"recall@{k}" for k in OTHER_CUTS]
    + [f"precision@{k}" for k in OTHER_CUTS]
    + [f"mrr@{k}" for k in MRR_CUTS]
)
TREC_MEASURES = {
    "ndcg_cut." + ",".join(map(str, NDCG_CUTS)),
    "ndcg",
    "map",
    "map_cut.2,5",
    "recall." + ",".join(map(str, OTHER_CUTS)),
    "P." + ",".join(map(str, OTHER_CUTS)),
    "recip_rank",
}

DOC_IDS = st.sampled_from(
    ["d1", "d2", "d10", "d11", "d100", "D1", "a", "b", "é", "e€", "z_9", "9", "10", "x-x"]
)
SCORES = st.one_of(
    st.sampled_from([0.9, 0.900000001, 0.8999999999, 0.5, 0.0, -0.0, 1.0, -2.5, 1e-8, 3.0, 16777217.0]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-3, max_value=3).map(float),
)
GRADES = st.sampled_from([-2, -1, 0, 0, 0, 1, 1, 2, 3, 4])
QIDS = st.sampled_from(["q1", "q2", "q3", "q4", "q5", "10"])


@st.composite
def run_and_qrels(draw: Any) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    run: dict[str, dict[str, float]] = draw(
        st.dictionaries(QIDS, st.dictionaries(DOC_IDS, SCORES, max_size=14), min_size=1, max_size=5)
    )
    qrels: dict[str, dict[str, int]] = draw(
        st.dictionaries(
            QIDS, st.dictionaries(DOC_IDS, GRADES, min_size=1, max_size=14), min_size=1, max_size=5
        )
    )
    # trec_eval reads out of bounds for a query whose judgments are all negative (no relevance level >= 0):
    # give such queries one grade-0 judgment so that the reference is well defined.
    for judged in qrels.values():
        if all(grade < 0 for grade in judged.values()):
            judged["zero-graded"] = 0
    shared = draw(QIDS)
    run.setdefault(shared, {})
    qrels.setdefault(shared, {"d1": draw(GRADES.filter(lambda g: g >= 0))})
    return run, qrels


def _reference_order(docs: dict[str, float]) -> list[str]:
    """Independent statement of trec_eval 9.0.8 order: float32 score descending, then id descending."""
    keyed = [(np.float32(score) + np.float32(0), doc) for doc, score in docs.items()]
    return [doc for _, doc in sorted(keyed, reverse=True)]


def _pytrec(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], measures: set[str]) -> Any:
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_and_qrels())
def test_every_measure_equals_pytrec_eval_per_query(data: Any) -> None:
    run, qrels = data
    reference = _pytrec(run, qrels, TREC_MEASURES)
    cut_references = {
        k: _pytrec({q: {d: docs[d] for d in _reference_order(docs)[:k]} for q, docs in run.items()}, qrels,
                   {"recip_rank"})
        for k in MRR_CUTS
    }
    result = evaluate_run(run, qrels, OUR_MEASURES, mean_over="both")
    assert set(result.per_query) == set(reference)
    for measure in parse_measures(OUR_MEASURES):
        for qid, values in result.per_query.items():
            if measure.kind == "mrr" and measure.cutoff is not None:
                expected = cut_references[measure.cutoff][qid]["recip_rank"]
            else:
                expected = reference[qid][measure.trec_eval_name]
            assert values[measure.name] == pytest.approx(expected, abs=1e-12), (qid, measure.name)
    for name in OUR_MEASURES:
        expected_mean = sum(values[name] for values in result.per_query.values()) / len(result.per_query)
        assert result.mean[name] == pytest.approx(expected_mean, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(run_and_qrels())
def test_mean_over_qrels_is_trec_eval_minus_c(data: Any) -> None:
    run, qrels = data
    reference = _pytrec(run, qrels, {"ndcg_cut.10", "map"})
    result = evaluate_run(run, qrels, ["ndcg@10", "map"])
    assert list(result.per_query) == list(qrels)
    assert result.num_queries == len(qrels)
    for qid, values in result.per_query.items():
        expected = reference.get(qid, {"ndcg_cut_10": 0.0, "map": 0.0})
        assert values["ndcg@10"] == pytest.approx(expected["ndcg_cut_10"], abs=1e-12)
        assert values["map"] == pytest.approx(expected["map"], abs=1e-12)
    total = sum(r["ndcg_cut_10"] for r in reference.values())
    assert result.mean["ndcg@10"] == pytest.approx(total / len(qrels), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(DOC_IDS, SCORES, min_size=1, max_size=14))
def test_ranking_order_is_the_order_trec_eval_ranks(docs: dict[str, float]) -> None:
    """One pseudo-query per document with only that document relevant: 1/recip_rank is its trec_eval rank."""
    run = {f"q{i}": docs for i in range(len(docs))}
    qrels = {f"q{i}": {doc: 1} for i, doc in enumerate(docs)}
    reference = _pytrec(run, qrels, {"recip_rank"})
    ranked = [doc for doc, _ in ranking_order(docs)]
    assert ranked == _reference_order(docs)
    for i, doc in enumerate(docs):
        assert round(1 / reference[f"q{i}"]["recip_rank"]) == ranked.index(doc) + 1


# ----------------------------------------------------------------------------- bit-exactness
EXACT_GRADES = st.integers(min_value=0, max_value=7)


@st.composite
def graded_run_and_qrels(draw: Any) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """Runs over up to 40 documents per query, every grade 0..7 (3, 5, 6, 7 are not powers of two)."""
    docs = [f"d{i}" for i in range(draw(st.integers(min_value=1, max_value=40)))]
    run: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for q in range(draw(st.integers(min_value=1, max_value=4))):
        qid = f"q{q}"
        retrieved = draw(st.lists(st.sampled_from(docs), unique=True, max_size=len(docs)))
        run[qid] = {doc: draw(SCORES) for doc in retrieved}
        judged = draw(st.lists(st.sampled_from(docs), unique=True, min_size=1, max_size=len(docs)))
        qrels[qid] = {doc: draw(EXACT_GRADES) for doc in judged}
    return run, qrels


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graded_run_and_qrels())
def test_every_measure_is_bit_identical_to_pytrec_eval(data: Any) -> None:
    """Per-query values are equal to pytrec_eval's with ``==``, not merely close (nDCG divides by the
    log2 discount as trec_eval does, and sums in rank order)."""
    run, qrels = data
    reference = _pytrec(run, qrels, TREC_MEASURES)
    result = evaluate_run(run, qrels, OUR_MEASURES, mean_over="both")
    for measure in parse_measures(OUR_MEASURES):
        if measure.kind == "mrr" and measure.cutoff is not None:
            continue  # a cut run: compared against pytrec_eval's recip_rank of the cut run above
        for qid, values in result.per_query.items():
            assert values[measure.name] == reference[qid][measure.trec_eval_name], (qid, measure.name)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(SCORES, EXACT_GRADES), min_size=1, max_size=30), st.sampled_from([None, 1, 3, 5, 10]))
def test_list_ndcg_is_bit_identical_to_pytrec_eval(items: list[tuple[float, int]], k: int | None) -> None:
    ids = [f"d{i:03d}" for i in range(len(items))]
    run = {"q": {doc: score for doc, (score, _) in zip(ids, items, strict=True)}}
    qrels = {"q": {doc: grade for doc, (_, grade) in zip(ids, items, strict=True)}}
    name = "ndcg" if k is None else f"ndcg_cut_{k}"
    measure = "ndcg" if k is None else f"ndcg_cut.{k}"
    expected = _pytrec(run, qrels, {measure})["q"][name]
    assert list_ndcg([s for s, _ in items], [g for _, g in items], k=k, ids=ids) == expected
