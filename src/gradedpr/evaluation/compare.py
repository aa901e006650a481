"""Compare evaluated runs with a baseline: means, differences, paired significance tests, wins/ties/losses.

For every measure and every run other than the baseline, over the same queries (paired by query id):

* ``mean`` -- the run's mean over the queries (with trec_eval ``-c`` results: every query of the qrels);
* ``diff`` -- ``mean(run) - mean(baseline)``;
* ``p_randomization`` -- two-sided paired randomisation test (:func:`~gradedpr.evaluation.significance.
  randomization_test`, ``p = (1 + C) / (1 + N)`` over ``N`` random sign flips; Smucker, Allan & Carterette,
  CIKM 2007). Every comparison uses the same ``seed`` (so the same sign vectors: common random numbers);
* ``p_t`` -- two-sided paired t-test (``scipy.stats.ttest_rel``);
* ``p_holm`` -- the randomisation p-values Holm-adjusted over the non-baseline runs of that measure (the family
  is "each run vs the baseline" on one measure);
* ``wins`` / ``ties`` / ``losses`` -- queries where the run's value is greater than / equal to / less than the
  baseline's (exact float comparison: identical rankings give bit-identical values).

Which queries: :func:`compare_runs` takes results of :func:`~gradedpr.evaluation.metrics.evaluate_run` with
``mean_over="qrels"`` (trec_eval ``-c``), so every run has a value for every query of the qrels, and a query a
run did not retrieve counts 0. Results evaluated against different qrels (different query sets) are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gradedpr.errors import DataError
from gradedpr.evaluation.measures import parse_measures
from gradedpr.evaluation.metrics import EvalResult
from gradedpr.evaluation.report import aligned_table
from gradedpr.evaluation.significance import holm, paired_t_test, randomization_test

FloatArray = npt.NDArray[np.float64]

QUERY_RULE_QRELS = (
    "trec_eval -c: every query of the qrels is compared; a query a run did not retrieve counts 0 on every measure"
)


@dataclass(frozen=True)
class RunRow:
    """One run on one measure, compared with the baseline (the baseline's own row has no test fields)."""

    run: str
    mean: float
    diff: float | None = None
    p_randomization: float | None = None
    p_t: float | None = None
    p_holm: float | None = None
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None
    baseline: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return {
            "run": self.run,
            "baseline": self.baseline,
            "mean": self.mean,
            "diff": self.diff,
            "p_randomization": self.p_randomization,
            "p_t": self.p_t,
            "p_holm": self.p_holm,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
        }


@dataclass
class Comparison:
    """Every measure's rows (baseline first, then the other runs in the order given) and how they were made."""

    baseline: str
    runs: tuple[str, ...]
    measures: tuple[str, ...]
    rows: dict[str, list[RunRow]]
    num_queries: int
    query_rule: str
    n_permutations: int
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_markdown(self) -> str:
        """One Markdown table per measure (run | mean | diff | p (perm) | p (t) | p (Holm) | W/T/L), then notes."""
        blocks = [self._table(measure) for measure in self.measures]
        notes = (
            f"{self.num_queries} queries ({self.query_rule}).\n"
            f"diff = mean - mean of the baseline {self.baseline!r}; p (perm): two-sided paired randomisation test, "
            f"{self.n_permutations} sign flips, seed {self.seed}, p = (1 + #extreme) / (1 + {self.n_permutations}); "
            "p (t): two-sided paired t-test; p (Holm): p (perm) Holm-adjusted over the runs compared with the "
            "baseline on that measure; W/T/L: queries where the run is better / equal / worse than the baseline.\n"
        )
        return "\n".join(blocks) + "\n" + notes

    def _table(self, measure: str) -> str:
        header = ["run", "mean", "diff", "p (perm)", "p (t)", "p (Holm)", "W/T/L"]
        lines = [header]
        for row in self.rows[measure]:
            if row.baseline:
                lines.append([f"{row.run} (baseline)", f"{row.mean:.4f}", "", "", "", "", ""])
            else:
                lines.append([
                    row.run,
                    f"{row.mean:.4f}",
                    f"{row.diff:+.4f}" if row.diff is not None else "",
                    _format_p(row.p_randomization),
                    _format_p(row.p_t),
                    _format_p(row.p_holm),
                    f"{row.wins}/{row.ties}/{row.losses}",
                ])
        return f"**{measure}**\n\n" + aligned_table(header, lines[1:])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: settings, the query rule and, per measure, one dict per run (baseline first)."""
        return {
            "baseline": self.baseline,
            "runs": list(self.runs),
            "measures": list(self.measures),
            "num_queries": self.num_queries,
            "query_rule": self.query_rule,
            "tests": {
                "p_randomization": "two-sided paired randomisation (sign-flip) test of the mean difference, "
                "p = (1 + #{|flipped mean| >= |observed mean|}) / (1 + n_permutations)",
                "p_t": "two-sided paired t-test (scipy.stats.ttest_rel)",
                "p_holm": "p_randomization Holm-adjusted over the non-baseline runs of the measure",
            },
            "n_permutations": self.n_permutations,
            "seed": self.seed,
            "results": {measure: [row.to_dict() for row in rows] for measure, rows in self.rows.items()},
            "extra": dict(self.extra),
        }


def _format_p(p: float | None) -> str:
    if p is None:
        return ""
    return f"{p:.4f}" if p >= 1e-3 else f"{p:.1e}"


def _compare_arrays(
    values: Mapping[str, FloatArray], baseline: str, n_permutations: int, seed: int
) -> list[RunRow]:
    """Rows for one measure from aligned per-query arrays (run -> values in one common query order)."""
    base = values[baseline]
    base_mean = float(base.sum() / base.size)
    others = [name for name in values if name != baseline]
    tested: list[tuple[str, float, float, float, int, int, int]] = []
    for name in others:
        run = values[name]
        mean = float(run.sum() / run.size)
        p_perm = randomization_test(run, base, n_permutations=n_permutations, seed=seed)
        p_t = paired_t_test(run, base)
        wins = int(np.count_nonzero(run > base))
        ties = int(np.count_nonzero(run == base))
        tested.append((name, mean, p_perm, p_t, wins, ties, run.size - wins - ties))
    adjusted = holm([row[2] for row in tested])
    rows = [RunRow(run=baseline, mean=base_mean, baseline=True)]
    for (name, mean, p_perm, p_t, wins, ties, losses), p_holm in zip(tested, adjusted, strict=True):
        rows.append(RunRow(run=name, mean=mean, diff=mean - base_mean, p_randomization=p_perm, p_t=p_t,
                           p_holm=p_holm, wins=wins, ties=ties, losses=losses))
    return rows


def _check_common(names: Sequence[str], baseline: str, num_queries: int) -> None:
    if baseline not in names:
        raise DataError(f"baseline {baseline!r} is not among the runs ({', '.join(map(repr, names))})")
    if len(names) < 2:
        raise DataError(f"nothing to compare: only the baseline {baseline!r} was given")
    if num_queries < 2:
        noun = "query" if num_queries == 1 else "queries"
        raise DataError(f"the runs have {num_queries} {noun} in common; paired tests need at least 2")


def _check_finite(array: FloatArray, run: str, measure: str) -> None:
    if not np.isfinite(array).all():
        raise DataError(f"run {run!r} has a non-finite {measure} value")


def _check_permutations(n_permutations: int) -> None:
    if n_permutations < 1:
        raise DataError(f"n_permutations must be >= 1, got {n_permutations}")


def compare_runs(
    results: Mapping[str, EvalResult],
    baseline: str,
    measures: Sequence[str],
    n_permutations: int = 10000,
    seed: int = 0,
) -> Comparison:
    """Compare every run of ``results`` (name -> result of ``evaluate_run``) with ``results[baseline]``.

    Every result must come from ``evaluate_run(..., mean_over="qrels")`` (trec_eval ``-c``) against the same
    qrels, so all hold the same queries, with 0 for a query the run did not retrieve. ``measures`` must have
    been computed for every run. Rows keep the order of ``results`` with the baseline first.
    Raises ``DataError`` naming the problem for a baseline that is not among the runs, a single run, a result
    evaluated with another ``mean_over`` or other queries, a missing measure, or fewer than two queries.
    """
    names = list(results)
    if baseline not in results:
        raise DataError(f"baseline {baseline!r} is not among the runs ({', '.join(map(repr, names))})")
    _check_permutations(n_permutations)
    wanted = [m.name for m in parse_measures(list(measures))]
    reference = results[baseline]
    qids = list(reference.per_query)
    qid_set = set(qids)
    for name in [baseline, *names]:
        result = results[name]
        if result.mean_over != "qrels":
            raise DataError(
                f"run {name!r} was evaluated with mean_over={result.mean_over!r}; comparing needs "
                "mean_over='qrels' (trec_eval -c) so that every query of the qrels is paired"
            )
        if set(result.per_query) != qid_set:
            missing = sorted(qid_set - set(result.per_query))
            extra = sorted(set(result.per_query) - qid_set)
            example = f"e.g. {missing[0]!r} missing" if missing else f"e.g. {extra[0]!r} extra"
            raise DataError(
                f"run {name!r} was evaluated on other queries than the baseline {baseline!r} "
                f"({len(missing)} missing, {len(extra)} extra, {example}): were they scored with the same qrels?"
            )
    _check_common(names, baseline, len(qids))
    rows: dict[str, list[RunRow]] = {}
    for measure in wanted:
        arrays: dict[str, FloatArray] = {}
        for name in [baseline, *(n for n in names if n != baseline)]:
            per_query = results[name].per_query
            try:
                arrays[name] = np.fromiter((per_query[q][measure] for q in qids), dtype=np.float64, count=len(qids))
            except KeyError:
                raise DataError(f"run {name!r} has no {measure} values (evaluate it with that measure)") from None
            _check_finite(arrays[name], name, measure)
        rows[measure] = _compare_arrays(arrays, baseline, n_permutations, seed)
    order = (baseline, *(n for n in names if n != baseline))
    return Comparison(baseline=baseline, runs=order, measures=tuple(wanted), rows=rows, num_queries=len(qids),
                      query_rule=QUERY_RULE_QRELS, n_permutations=n_permutations, seed=seed)


def compare_per_query(
    values: Mapping[str, Mapping[str, float]],
    baseline: str,
    n_permutations: int = 10000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Compare runs on one measure given as run -> qid -> value; one dict per run, the baseline first.

    Every run must have values for exactly the baseline's query ids (queries are paired by id; a query a run
    did not retrieve must be passed as 0 by the caller, e.g. after averaging per-query values over seeds).
    The dicts are :meth:`RunRow.to_dict` (``run``, ``baseline``, ``mean``, ``diff``, ``p_randomization``,
    ``p_t``, ``p_holm``, ``wins``, ``ties``, ``losses``); Holm's adjustment is over the non-baseline runs.
    Raises ``DataError`` for a baseline not among the runs, a run whose query ids differ from the baseline's
    (naming the run), a non-finite value, or fewer than two queries.
    """
    names = list(values)
    if baseline not in values:
        raise DataError(f"baseline {baseline!r} is not among the runs ({', '.join(map(repr, names))})")
    _check_permutations(n_permutations)
    qids = list(values[baseline])
    qid_set = set(qids)
    for name in names:
        if set(values[name]) != qid_set:
            missing = sorted(qid_set - set(values[name]))
            extra = sorted(set(values[name]) - qid_set)
            example = f"e.g. {missing[0]!r} missing" if missing else f"e.g. {extra[0]!r} extra"
            raise DataError(
                f"run {name!r} has values for other queries than the baseline {baseline!r} "
                f"({len(missing)} missing, {len(extra)} extra, {example})"
            )
    _check_common(names, baseline, len(qids))
    arrays: dict[str, FloatArray] = {}
    for name in [baseline, *(n for n in names if n != baseline)]:
        try:
            arrays[name] = np.asarray([float(values[name][q]) for q in qids], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"run {name!r} has a value that is not a number") from None
        _check_finite(arrays[name], name, "per-query")
    return [row.to_dict() for row in _compare_arrays(arrays, baseline, n_permutations, seed)]

