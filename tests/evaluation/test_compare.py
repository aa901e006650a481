"""compare_runs / compare_per_query: trec_eval -c pairing, the numbers in every row, tables, JSON, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradedpr.errors import DataError
from gradedpr.evaluation.compare import Comparison, compare_per_query, compare_runs
from gradedpr.evaluation.metrics import EvalResult, evaluate_run
from gradedpr.evaluation.significance import holm, paired_t_test, randomization_test

QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0},
    "q2": {"d4": 1, "d5": 2},
    "q3": {"d6": 1},
    "q4": {"d7": 2, "d8": 1},
    "q5": {"d9": 0},  # judged, nothing relevant: every run scores 0 on it
}


def _runs() -> dict[str, dict[str, dict[str, float]]]:
    base = {
        "q1": {"d3": 3.0, "d1": 2.0, "d2": 1.0},
        "q2": {"d4": 2.0, "d5": 1.0},
        "q3": {"x": 2.0, "d6": 1.0},
        "q4": {"d8": 2.0, "d7": 1.0},
        "q5": {"d9": 1.0},
    }
    better = {
        "q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0},
        "q2": {"d5": 2.0, "d4": 1.0},
        "q3": {"d6": 2.0, "x": 1.0},
        "q4": {"d7": 2.0, "d8": 1.0},
        # q5 not retrieved
    }
    partial = {"q1": {"d1": 1.0}, "q2": {"d5": 1.0}, "extra-query": {"d1": 1.0}}  # misses q3, q4, q5
    return {"base": base, "better": better, "partial": partial}


def _results(measures: tuple[str, ...] = ("ndcg@10", "mrr@10")) -> dict[str, EvalResult]:
    return {name: evaluate_run(run, QRELS, measures, mean_over="qrels") for name, run in _runs().items()}


def test_missing_queries_count_zero_as_trec_eval_minus_c() -> None:
    results = _results()
    comparison = compare_runs(results, "base", ["ndcg@10"], n_permutations=2000)
    assert comparison.num_queries == 5
    assert "trec_eval -c" in comparison.query_rule and "counts 0" in comparison.query_rule
    rows = {row.run: row for row in comparison.rows["ndcg@10"]}
    partial = results["partial"].per_query
    assert partial["q3"]["ndcg@10"] == 0.0 and partial["q4"]["ndcg@10"] == 0.0
    # mean over all 5 qrels queries, the 3 the run lacks (and its query unknown to the qrels) contributing 0
    assert rows["partial"].mean == pytest.approx((partial["q1"]["ndcg@10"] + partial["q2"]["ndcg@10"]) / 5)
    assert rows["partial"].mean == pytest.approx(results["partial"].mean["ndcg@10"])
    # q5 has no relevant document: 0 for everyone, a tie, even where a run did not retrieve it
    assert rows["better"].ties >= 1 and rows["partial"].ties >= 1


def test_rows_hold_the_tests_of_the_paired_per_query_values() -> None:
    results = _results()
    comparison = compare_runs(results, "base", ["ndcg@10", "mrr@10"], n_permutations=3000, seed=5)
    assert comparison.runs == ("base", "better", "partial")
    assert comparison.measures == ("ndcg@10", "mrr@10")
    qids = list(QRELS)
    for measure in comparison.measures:
        rows = comparison.rows[measure]
        assert rows[0].run == "base" and rows[0].baseline and rows[0].diff is None and rows[0].p_t is None
        base = np.array([results["base"].per_query[q][measure] for q in qids])
        raw = []
        for row in rows[1:]:
            run = np.array([results[row.run].per_query[q][measure] for q in qids])
            assert row.mean == pytest.approx(run.mean())
            assert row.diff == pytest.approx(run.mean() - base.mean())
            assert row.p_randomization == randomization_test(run, base, n_permutations=3000, seed=5)
            assert row.p_t == paired_t_test(run, base)
            assert (row.wins, row.ties, row.losses) == (
                int((run > base).sum()), int((run == base).sum()), int((run < base).sum())
            )
            raw.append(row.p_randomization)
        assert [row.p_holm for row in rows[1:]] == holm(raw)


def test_markdown_and_json() -> None:
    comparison = compare_runs(_results(), "better", ["ndcg@10"], n_permutations=500)
    text = comparison.to_markdown()
    assert "**ndcg@10**" in text
    for column in ("mean", "diff", "p (perm)", "p (t)", "p (Holm)", "W/T/L"):
        assert column in text
    assert "better (baseline)" in text
    assert "5 queries (trec_eval -c" in text and "500 sign flips" in text
    row_line = next(line for line in text.splitlines() if line.startswith("| base "))
    assert row_line.count("|") == 8 and "/" in row_line.split("|")[-2]  # W/T/L filled in
    data = json.loads(json.dumps(comparison.to_dict(), allow_nan=False))
    assert data["baseline"] == "better" and data["num_queries"] == 5 and data["n_permutations"] == 500
    assert [row["run"] for row in data["results"]["ndcg@10"]] == ["better", "base", "partial"]
    assert set(data["results"]["ndcg@10"][1]) >= {"mean", "diff", "p_randomization", "p_t", "p_holm", "wins",
                                                  "ties", "losses"}
    assert "trec_eval -c" in data["query_rule"]


def _bad(results: dict[str, EvalResult], baseline: str = "base", measures: tuple[str, ...] = ("ndcg@10",)
         ) -> Comparison:
    try:
        return compare_runs(results, baseline, list(measures), n_permutations=100)
    except DataError as exc:
        assert "\n" not in str(exc)  # one line
        raise


def test_bad_comparisons_raise_one_line_data_errors() -> None:
    results = _results()
    with pytest.raises(DataError, match=r"baseline 'nope' is not among the runs \('base', 'better', 'partial'\)"):
        _bad(results, "nope")
    with pytest.raises(DataError, match="only the baseline"):
        _bad({"base": results["base"]})
    fewer = dict(results, partial=evaluate_run(_runs()["partial"], QRELS, ["ndcg@10"]))
    with pytest.raises(DataError, match="run 'partial' has no mrr@10 values"):
        _bad(fewer, measures=("ndcg@10", "mrr@10"))
    both = dict(results, partial=evaluate_run(_runs()["partial"], QRELS, ["ndcg@10"], mean_over="both"))
    with pytest.raises(DataError, match="'partial' was evaluated with mean_over='both'"):
        _bad(both)
    other = dict(results, better=evaluate_run(_runs()["better"], {**QRELS, "q9": {"d1": 1}}, ["ndcg@10"]))
    with pytest.raises(DataError, match=r"'better' was evaluated on other queries.*1 extra"):
        _bad(other)
    one = {"q1": QRELS["q1"]}
    single = {name: evaluate_run(run, one, ["ndcg@10"]) for name, run in _runs().items()}
    with pytest.raises(DataError, match="1 query in common; paired tests need at least 2"):
        _bad(single)


def test_compare_per_query() -> None:
    values = {
        "base": {"a": 0.1, "b": 0.5, "c": 0.2, "d": 0.0},
        "x": {"d": 0.0, "c": 0.4, "b": 0.5, "a": 0.3},  # other key order: paired by id
        "y": {"a": 0.0, "b": 0.1, "c": 0.1, "d": 0.0},
    }
    rows = compare_per_query(values, "base", n_permutations=1000, seed=1)
    assert [row["run"] for row in rows] == ["base", "x", "y"]
    assert rows[0]["baseline"] and rows[0]["mean"] == pytest.approx(0.2) and rows[0]["p_t"] is None
    x = rows[1]
    assert x["mean"] == pytest.approx(0.3) and x["diff"] == pytest.approx(0.1)
    assert (x["wins"], x["ties"], x["losses"]) == (2, 2, 0)
    base, xs = np.array([0.1, 0.5, 0.2, 0.0]), np.array([0.3, 0.5, 0.4, 0.0])
    assert x["p_t"] == paired_t_test(xs, base)
    assert x["p_randomization"] == randomization_test(xs, base, n_permutations=1000, seed=1)
    assert [rows[1]["p_holm"], rows[2]["p_holm"]] == holm([rows[1]["p_randomization"], rows[2]["p_randomization"]])
    # exactly: d = (0.2, 0, 0.2, 0); |S*| = 0.4 when the two 0.2s keep equal signs: 2 x 4 of 16 vectors
    assert x["p_randomization"] == pytest.approx(0.5, abs=0.05)

    with pytest.raises(DataError, match=r"run 'y' has values for other queries .*1 missing.*'d'"):
        compare_per_query({**values, "y": {"a": 0.0, "b": 0.1, "c": 0.1}}, "base")
    with pytest.raises(DataError, match="baseline 'z' is not among the runs"):
        compare_per_query(values, "z")
    with pytest.raises(DataError, match="1 query in common"):
        compare_per_query({"base": {"a": 1.0}, "x": {"a": 0.0}}, "base")
    with pytest.raises(DataError, match="non-finite"):
        compare_per_query({**values, "y": {"a": float("nan"), "b": 0.1, "c": 0.1, "d": 0.0}}, "base")
