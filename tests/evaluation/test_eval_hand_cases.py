"""Hand-computed metric values: every number below is worked out from the trec_eval rules, not from code."""

from __future__ import annotations

import math

import pytest

from gradedpr.errors import DataError
from gradedpr.evaluation import DEFAULT_MEASURES, evaluate_run, list_ndcg, parse_measure, parse_measures

L3 = math.log2(3)  # discount denominator at rank 2
L4 = 2.0  # log2(4), rank 3


def test_graded_ndcg_uses_linear_gain_and_unretrieved_relevant_in_ideal() -> None:
    # run order a(2) b(1) c(0) e(unjudged); d (grade 3) is judged but not retrieved.
    qrels = {"q": {"a": 2, "b": 1, "c": 0, "d": 3}}
    run = {"q": {"a": 0.9, "b": 0.8, "c": 0.7, "e": 0.6}}
    names = ["ndcg@1", "ndcg@3", "ndcg", "recall@2", "precision@2", "precision@10", "mrr@10", "map", "map@1"]
    result = evaluate_run(run, qrels, names).per_query["q"]
    dcg3 = 2 + 1 / L3
    ideal1 = 3.0
    ideal3 = 3 + 2 / L3 + 1 / L4
    assert result["ndcg@1"] == pytest.approx(2 / ideal1, abs=1e-15)
    assert result["ndcg@3"] == pytest.approx(dcg3 / ideal3, abs=1e-15)
    assert result["ndcg"] == pytest.approx(dcg3 / ideal3, abs=1e-15)  # ideal over 3 relevant; e, c give 0
    assert result["recall@2"] == pytest.approx(2 / 3)
    assert result["precision@2"] == 1.0
    assert result["precision@10"] == pytest.approx(0.2)  # divided by K even though only 4 were retrieved
    assert result["mrr@10"] == 1.0
    assert result["map"] == pytest.approx((1 / 1 + 2 / 2) / 3)  # d not retrieved: adds 0, counts in /3
    assert result["map@1"] == pytest.approx(1 / 3)


def test_float32_ties_and_descending_docid_tiebreak() -> None:
    # As doubles a > b; as float32 they are equal, so the tie goes to the greater id: "b" first.
    run = {"q": {"b": 0.9, "a": 0.900000001}}
    result = evaluate_run(run, {"q": {"a": 1}}, ["ndcg@1", "mrr@10"]).per_query["q"]
    assert result == {"ndcg@1": 0.0, "mrr@10": 0.5}
    # A difference float32 can represent is not a tie.
    result = evaluate_run({"q": {"b": 0.9, "a": 0.9001}}, {"q": {"a": 1}}, ["ndcg@1"]).per_query["q"]
    assert result == {"ndcg@1": 1.0}


def test_ties_are_broken_by_string_order_not_numeric_or_input_order() -> None:
    # Descending string order of d1, d10, d2 is d2 > d10 > d1.
    run = {"q": {"d1": 1.0, "d2": 1.0, "d10": 1.0}}
    assert evaluate_run(run, {"q": {"d1": 1}}, ["mrr@10"]).per_query["q"]["mrr@10"] == pytest.approx(1 / 3)
    assert evaluate_run(run, {"q": {"d10": 1}}, ["mrr@10"]).per_query["q"]["mrr@10"] == pytest.approx(1 / 2)
    assert evaluate_run(run, {"q": {"d2": 1}}, ["mrr@10"]).per_query["q"]["mrr@10"] == 1.0


def test_negative_zero_ties_with_zero() -> None:
    run = {"q": {"a": 0.0, "b": -0.0}}
    assert evaluate_run(run, {"q": {"a": 1}}, ["mrr@10"]).per_query["q"]["mrr@10"] == 0.5


def test_negative_grades_are_unjudged_and_zero_grades_give_nothing() -> None:
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    qrels = {"q": {"a": -1, "b": 0, "c": 2}}
    result = evaluate_run(run, qrels, ["ndcg@3", "recall@3", "map"]).per_query["q"]
    assert result["ndcg@3"] == pytest.approx((2 / L4) / 2)
    assert result["recall@3"] == 1.0
    assert result["map"] == pytest.approx(1 / 3)


def test_queries_without_relevant_documents_score_zero() -> None:
    run = {"zero": {"a": 1.0}, "neg": {"a": 1.0}, "ok": {"a": 1.0}}
    qrels = {"zero": {"a": 0}, "neg": {"a": -1}, "ok": {"a": 1}}
    result = evaluate_run(run, qrels, list(DEFAULT_MEASURES))
    assert all(v == 0.0 for v in result.per_query["zero"].values())
    assert all(v == 0.0 for v in result.per_query["neg"].values())
    assert result.per_query["ok"]["ndcg@10"] == 1.0
    assert result.num_queries == 3
    assert result.mean["ndcg@10"] == pytest.approx(1 / 3)


def test_mean_over_qrels_counts_missing_queries_as_zero_and_both_drops_them() -> None:
    run = {"q1": {"a": 1.0}, "not_judged": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}
    full = evaluate_run(run, qrels, ["ndcg@10"])
    assert full.mean_over == "qrels"
    assert list(full.per_query) == ["q1", "q2", "q3"]  # qrels order; the unjudged run query is ignored
    assert full.per_query["q2"]["ndcg@10"] == 0.0
    assert full.num_queries == 3
    assert full.mean["ndcg@10"] == pytest.approx(1 / 3)
    both = evaluate_run(run, qrels, ["ndcg@10"], mean_over="both")
    assert list(both.per_query) == ["q1"]
    assert both.num_queries == 1
    assert both.mean["ndcg@10"] == 1.0


def test_run_query_with_no_documents_counts_as_present() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"a": 1}}
    result = evaluate_run({"q1": {}, "q2": {"a": 1.0}}, qrels, ["map"], mean_over="both")
    assert result.per_query == {"q1": {"map": 0.0}, "q2": {"map": 1.0}}


def test_no_shared_query_is_an_error() -> None:
    with pytest.raises(DataError, match="no query of the run"):
        evaluate_run({"x": {"a": 1.0}}, {"y": {"a": 1}})


def test_nan_score_and_non_integer_grade_are_errors() -> None:
    with pytest.raises(DataError, match="NaN"):
        evaluate_run({"q": {"a": float("nan"), "b": 1.0}}, {"q": {"b": 1}})
    with pytest.raises(DataError, match="not an integer"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 1.5}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="mean_over"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 1}}, mean_over="run")


def test_integral_float_and_numpy_grades_are_accepted() -> None:
    import numpy as np

    qrels = {"q": {"a": np.int64(2), "b": 1.0}}
    result = evaluate_run({"q": {"a": 1.0, "b": 2.0}}, qrels, ["ndcg@1"])  # type: ignore[arg-type]
    assert result.per_query["q"]["ndcg@1"] == pytest.approx(1 / 2)


def test_measure_names_are_parsed_generically() -> None:
    assert parse_measure("ndcg@7").cutoff == 7
    assert parse_measure("ndcg").cutoff is None
    assert parse_measure(" map ").name == "map"
    assert parse_measure("precision@5").trec_eval_name == "P_5"
    assert [m.name for m in parse_measures("ndcg@10,map,ndcg@10")] == ["ndcg@10", "map"]
    for bad in ("recall", "precision", "foo@3", "ndcg@0", "ndcg@", "NDCG@10", ""):
        with pytest.raises(ValueError):
            parse_measure(bad)
    result = evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 1}}, "ndcg@7,recall@2")
    assert result.per_query["q"] == {"ndcg@7": 1.0, "recall@2": 1.0}


def test_default_measures() -> None:
    assert DEFAULT_MEASURES == (
        "ndcg@1", "ndcg@3", "ndcg@5", "ndcg@10", "ndcg@100", "recall@10", "recall@100", "mrr@10", "map",
    )


def test_list_ndcg_hand_cases() -> None:
    # Ranked by score: labels 0, 2, 1 -> DCG = 2/log2(3) + 1/log2(4); ideal 2, 1 -> 2 + 1/log2(3).
    assert list_ndcg([0.9, 0.8, 0.1], [0, 2, 1]) == pytest.approx((2 / L3 + 1 / L4) / (2 + 1 / L3), abs=1e-15)
    assert list_ndcg([0.9, 0.8, 0.1], [0, 2, 1], k=1) == 0.0
    assert list_ndcg([0.1, 0.9], [3, 3]) == 1.0
    assert list_ndcg([0.5, 0.4], [0, 0]) == 0.0
    assert list_ndcg([0.5, 0.4], [-1, 1]) == pytest.approx((1 / L3) / 1)
    assert list_ndcg([], []) == 0.0


def test_list_ndcg_ties() -> None:
    # float32 tie; ids decide: "b" > "a" so "b" ranks first.
    assert list_ndcg([0.900000001, 0.9], [1, 0], ids=["a", "b"]) == pytest.approx(1 / L3)
    assert list_ndcg([0.900000001, 0.9], [1, 0], ids=["b", "a"]) == 1.0
    # without ids the later position ranks first in a tie
    assert list_ndcg([1.0, 1.0], [1, 0]) == pytest.approx(1 / L3)
    assert list_ndcg([1.0, 1.0], [0, 1]) == 1.0
    with pytest.raises(ValueError):
        list_ndcg([1.0, 1.0], [0, 1], ids=["a", "a"])
    with pytest.raises(ValueError):
        list_ndcg([1.0], [0.5])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        list_ndcg([1.0], [1], k=0)


def test_list_ndcg_equals_evaluate_run_on_the_same_list() -> None:
    scores = [0.3, 0.7, 0.7, 0.1, 0.9, 0.3]
    labels = [2, 0, 1, 3, 0, 1]
    ids = ["d3", "d7", "d10", "x", "y", "d30"]
    run = {"q": dict(zip(ids, scores, strict=True))}
    qrels = {"q": dict(zip(ids, labels, strict=True))}
    for k in (1, 2, 3, 5, None):
        name = "ndcg" if k is None else f"ndcg@{k}"
        expected = evaluate_run(run, qrels, [name]).per_query["q"][name]
        assert list_ndcg(scores, labels, k=k, ids=ids) == expected
