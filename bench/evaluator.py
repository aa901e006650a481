"""Benchmark: gradedpr's evaluate_run against pytrec_eval on a random 1,000-query x 1,000-document run.

Builds a run with graded qrels (grades 0-3, some negative, relevant documents both retrieved and not) and
scores rounded to 4 decimals so that every query has tied scores; times ``evaluate_run`` and pytrec_eval
(``RelevanceEvaluator`` construction + ``evaluate``) for the default measures, checks that every per-query
value agrees, and prints the time ratio. ``run_benchmark()`` returns the numbers for ``bench/run_all.py``.

Usage: ``python bench/evaluator.py [--queries 1000] [--docs 1000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradedpr.evaluation import DEFAULT_MEASURES, evaluate_run, parse_measures, ranking_order


def make_data(
    num_queries: int = 1000, docs_per_query: int = 1000, corpus_size: int = 100_000, seed: int = 0
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """A random run (scores rounded to 4 decimals: ties) and graded qrels over a shared corpus."""
    rng = np.random.default_rng(seed)
    corpus = np.array([f"D{i:06d}" for i in range(corpus_size)])
    run: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for q in range(num_queries):
        qid = f"Q{q}"
        retrieved = rng.choice(corpus_size, docs_per_query, replace=False)
        scores = np.round(rng.random(docs_per_query), 4)
        run[qid] = dict(zip(corpus[retrieved].tolist(), scores.tolist(), strict=True))
        judged_retrieved = retrieved[rng.random(docs_per_query) < 0.02]
        judged_other = rng.choice(corpus_size, 20, replace=False)
        judged = np.unique(np.concatenate([judged_retrieved, judged_other]))
        grades = rng.choice([-1, 0, 0, 1, 1, 2, 3], size=judged.size)
        qrels[qid] = dict(zip(corpus[judged].tolist(), grades.tolist(), strict=True))
    for q in range(num_queries, num_queries + num_queries // 100):  # qrels queries missing from the run
        qrels[f"Q{q}"] = {str(corpus[0]): 1}
    return run, qrels


def _best_time(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best = float("inf")
    result: Any = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_benchmark(num_queries: int = 1000, docs_per_query: int = 1000, repeats: int = 3) -> dict[str, Any]:
    """Time both evaluators, compare per-query values; return the numbers (seconds, ratio, max difference)."""
    import pytrec_eval

    run, qrels = make_data(num_queries, docs_per_query)
    measures = parse_measures(DEFAULT_MEASURES)
    ndcg_cuts = ",".join(str(m.cutoff) for m in measures if m.kind == "ndcg")
    recall_cuts = ",".join(str(m.cutoff) for m in measures if m.kind == "recall")
    trec_measures = {f"ndcg_cut.{ndcg_cuts}", f"recall.{recall_cuts}", "recip_rank", "map"}

    def ours() -> Any:
        return evaluate_run(run, qrels, DEFAULT_MEASURES, mean_over="both")

    def theirs() -> Any:
        return pytrec_eval.RelevanceEvaluator(qrels, trec_measures).evaluate(run)

    ours_seconds, result = _best_time(ours, repeats)
    theirs_seconds, reference = _best_time(theirs, repeats)

    # mrr@10 is recip_rank on the run cut to its top 10 in trec_eval order: evaluate that cut run too.
    mrr = [m for m in measures if m.kind == "mrr"]
    cut_reference: dict[str, dict[str, dict[str, float]]] = {}
    for m in mrr:
        assert m.cutoff is not None
        cut = {qid: dict(ranking_order(docs)[: m.cutoff]) for qid, docs in run.items()}
        cut_reference[m.name] = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)

    max_diff = 0.0
    for qid, values in result.per_query.items():
        for m in measures:
            expected = (cut_reference[m.name] if m.kind == "mrr" else reference)[qid][m.trec_eval_name]
            max_diff = max(max_diff, abs(values[m.name] - expected))
    if set(result.per_query) != set(reference):
        raise AssertionError("the two evaluators report different query sets")
    numbers = {
        "num_queries": num_queries,
        "docs_per_query": docs_per_query,
        "measures": list(DEFAULT_MEASURES),
        "gradedpr_seconds": ours_seconds,
        "pytrec_eval_seconds": theirs_seconds,
        "speedup": theirs_seconds / ours_seconds,
        "max_abs_difference": max_diff,
        "identical": max_diff <= 1e-12,
    }
    return numbers


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    numbers = run_benchmark(args.queries, args.docs, args.repeats)
    print(
        f"{numbers['num_queries']} queries x {numbers['docs_per_query']} docs, default measures: "
        f"gradedpr {numbers['gradedpr_seconds']:.3f} s, pytrec_eval {numbers['pytrec_eval_seconds']:.3f} s, "
        f"pytrec_eval / gradedpr = {numbers['speedup']:.2f}x; per-query max |diff| = "
        f"{numbers['max_abs_difference']:.2e} ({'identical' if numbers['identical'] else 'DIFFERENT'})"
    )


if __name__ == "__main__":
    main()
