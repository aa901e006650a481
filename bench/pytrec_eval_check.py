"""Compare a TREC run file scored by gradedpr's evaluator with pytrec_eval, query by query.

    python bench/pytrec_eval_check.py <run file> <qrels file: BEIR .tsv or TREC> [ndcg@10 ...]

Prints both means (over all qrels queries, trec_eval -c style) and the largest per-query difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytrec_eval

from gradedpr.data.qrels import read_beir_qrels, read_trec_qrels
from gradedpr.data.runs import read_trec_run
from gradedpr.evaluation.measures import parse_measure
from gradedpr.evaluation.metrics import evaluate_run


class _Any:
    """Accept every id: the run file is checked against the qrels, not against a corpus."""

    def __contains__(self, item: object) -> bool:
        return True


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    run = read_trec_run(argv[0])
    with open(argv[1], encoding="utf-8") as handle:
        first = handle.readline()
    qrels = read_trec_qrels(argv[1]) if len(first.split()) == 4 else read_beir_qrels(Path(argv[1]), _Any(), _Any())
    measures = argv[2:] or ["ndcg@10"]
    ours = evaluate_run(run, qrels, measures)
    for name in measures:
        measure = parse_measure(name)
        if measure.kind == "mrr":
            print(f"{name}: skipped (pytrec_eval has no cut-off reciprocal rank)")
            continue
        trec_name = measure.trec_eval_name
        request = trec_name if measure.cutoff is None else f"{trec_name.rsplit('_', 1)[0]}.{measure.cutoff}"
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, {request})
        theirs = evaluator.evaluate(run)
        mean = sum(r[trec_name] for r in theirs.values()) / len(qrels)
        diff = max(abs(theirs[q][trec_name] - ours.per_query[q][name]) for q in theirs)
        print(f"{name}: gradedpr {ours.mean[name]:.6f}  pytrec_eval {mean:.6f}  "
              f"({len(theirs)} of {len(qrels)} qrels queries in the run)  max per-query |diff| {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
