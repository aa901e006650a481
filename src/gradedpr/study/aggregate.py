"""Aggregate a finished study: one row per (regime, loss) with mean / std over seeds and paired tests.

Per-query test values are averaged over a row's seeds first; the paired tests then compare those per-query
means (each loss vs ``nll`` of the same regime, and vs the zero-shot model) over every query of the test
qrels (trec_eval ``-c``: a query missing from a run counts 0): a two-sided paired randomisation test
(:func:`~gradedpr.evaluation.significance.randomization_test`, ``n_permutations`` sign flips, seeded) and a
paired t-test, Holm-adjusted over the losses of a regime in the Markdown table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradedpr.evaluation.significance import holm, paired_t_test, randomization_test
from gradedpr.filenames import METRICS_FILE, TRAIN_SUMMARY
from gradedpr.study.plan import PlannedRun
from gradedpr.study.runner import WALL_FILE

SUMMARY_COLUMNS = ("regime", "loss", "seeds", "dev_ndcg10_mean", "test_ndcg10_mean", "test_ndcg10_std",
                   "p_vs_nll", "p_vs_zeroshot", "minutes")


@dataclass
class Row:
    """One (regime, loss) of the study (or a baseline: regime ``none``, loss ``zeroshot`` / ``bm25``)."""

    regime: str
    loss: str
    seeds: int
    dev: list[float]
    test: list[float]
    per_query: dict[str, float]  # test value per query, averaged over seeds
    minutes: list[float] = field(default_factory=list)
    curves: list[list[tuple[int, float]]] = field(default_factory=list)  # dev metric over steps, per seed
    best_steps: list[int] = field(default_factory=list)
    tests: dict[str, dict[str, float]] = field(default_factory=dict)  # vs name -> {diff, p_perm, p_t, p_holm}

    @property
    def test_mean(self) -> float:
        return float(np.mean(self.test))

    @property
    def test_std(self) -> float:
        return float(np.std(self.test, ddof=1)) if len(self.test) > 1 else 0.0

    @property
    def dev_mean(self) -> float:
        return float(np.mean(self.dev)) if self.dev else math.nan


def _per_query(path: Path, measure: str) -> dict[str, float]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("mean_over") != "qrels":
        raise ValueError(f"{path}: per-query values must be over every qrels query (trec_eval -c)")
    return {qid: float(values[measure]) for qid, values in data["per_query"].items()}


def seed_mean(per_seed: Sequence[Mapping[str, float]], what: str) -> dict[str, float]:
    """Per-query values averaged over seeds; every seed must cover the same queries (``what`` names them)."""
    qids = sorted(per_seed[0])
    if any(sorted(other) != qids for other in per_seed[1:]):
        raise ValueError(f"{what} were evaluated on different queries")
    return {q: float(np.mean([values[q] for values in per_seed])) for q in qids}


def paired(a: Mapping[str, float], b: Mapping[str, float], n_permutations: int, seed: int,
           what: str) -> dict[str, Any]:
    """Paired comparison of two systems' per-query values (the same queries, ``what`` names the pair): diff of
    the means, two-sided randomisation and t-test p, wins / ties / losses of ``a``."""
    qids = sorted(b)
    if sorted(a) != qids:
        raise ValueError(f"{what} were evaluated on different queries")
    x = np.array([a[q] for q in qids])
    y = np.array([b[q] for q in qids])
    return {"diff": float(x.mean() - y.mean()),
            "p_perm": randomization_test(x, y, n_permutations=n_permutations, seed=seed),
            "p_t": paired_t_test(x, y),
            "wins": int((x > y).sum()), "ties": int((x == y).sum()), "losses": int((x < y).sum())}


def collect(runs: Sequence[PlannedRun], output: Path, split: str, measure: str = "ndcg@10",
            dev_split: str = "dev") -> list[Row]:
    """Rows of the finished runs and of the baselines found under ``output/baselines``."""
    groups: dict[tuple[str, str], list[PlannedRun]] = {}
    for run in runs:
        groups.setdefault((run.regime, run.loss), []).append(run)
    rows: list[Row] = []
    for name in ("zeroshot", "bm25"):
        base = output / "baselines" / name
        if (base / split / METRICS_FILE).is_file():
            per_query = _per_query(base / split / METRICS_FILE, measure)
            dev = [float(np.mean(list(_per_query(base / dev_split / METRICS_FILE, measure).values())))] \
                if (base / dev_split / METRICS_FILE).is_file() else []
            rows.append(Row("none", name, 1, dev, [float(np.mean(list(per_query.values())))], per_query))
    for (regime, loss), members in groups.items():
        dev, test, minutes, curves, best_steps = [], [], [], [], []
        per_query_runs: list[dict[str, float]] = []
        for run in members:
            summary_path = run.run_dir / TRAIN_SUMMARY
            if not (run.run_dir / split / METRICS_FILE).is_file() or not summary_path.is_file():
                continue
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            dev.append(float(summary["best_dev_metric"]))
            test.append(float(summary["test"][f"{split}/{measure}"]))
            best_steps.append(int(summary["best_step"]))
            curves.append([(int(e["step"]), float(e[f"dev/{measure}"])) for e in summary["evaluations"]])
            per_query_runs.append(_per_query(run.run_dir / split / METRICS_FILE, measure))
            wall = run.run_dir / WALL_FILE
            if wall.is_file():
                minutes.append(json.loads(wall.read_text(encoding="utf-8"))["seconds"] / 60)
        if not per_query_runs:
            continue
        mean_pq = seed_mean(per_query_runs, f"runs of {regime}/{loss}")
        rows.append(Row(regime, loss, len(per_query_runs), dev, test, mean_pq, minutes, curves, best_steps))
    return rows


def add_tests(rows: list[Row], n_permutations: int = 10000, seed: int = 0) -> None:
    """Paired tests of every trained row vs ``nll`` of its regime and vs ``zeroshot`` (Holm per regime)."""
    by_key = {(r.regime, r.loss): r for r in rows}
    zeroshot = by_key.get(("none", "zeroshot"))
    for row in rows:
        if row.regime == "none":
            continue
        for name, other in (("nll", by_key.get((row.regime, "nll"))), ("zeroshot", zeroshot)):
            if other is None or other is row:
                continue
            row.tests[name] = paired(row.per_query, other.per_query, n_permutations, seed,
                                     f"{row.regime}/{row.loss} and {name}")
    for regime in {r.regime for r in rows if r.regime != "none"}:
        for name in ("nll", "zeroshot"):
            members = [r for r in rows if r.regime == regime and name in r.tests]
            for row, adjusted in zip(members, holm([r.tests[name]["p_perm"] for r in members]), strict=True):
                row.tests[name]["p_holm"] = adjusted


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def summary_csv(rows: Sequence[Row]) -> str:
    """The machine-readable summary (``docs/study/summary.csv``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for row in rows:
        writer.writerow([
            row.regime, row.loss, row.seeds, _fmt(row.dev_mean), _fmt(row.test_mean), _fmt(row.test_std),
            _fmt(row.tests.get("nll", {}).get("p_perm")), _fmt(row.tests.get("zeroshot", {}).get("p_perm")),
            _fmt(float(np.mean(row.minutes)) if row.minutes else None, 1),
        ])
    return out.getvalue()


def markdown_table(rows: Sequence[Row], measure: str = "nDCG@10") -> str:
    """The aggregate table for people: mean +- std over seeds, differences, p-values (perm / t / Holm)."""
    lines = [
        f"| regime | loss | seeds | dev {measure} | test {measure} (mean +- std) | vs nll: diff, p perm (Holm), "
        f"p t, W/T/L | vs zero-shot: diff, p perm (Holm), p t, W/T/L | best step | minutes/run |",
        "|---|---|---:|---:|---:|---|---|---|---:|",
    ]
    for row in rows:
        cells: list[str] = []
        for name in ("nll", "zeroshot"):
            t = row.tests.get(name)
            cells.append("" if t is None else
                         f"{t['diff']:+.4f}, {t['p_perm']:.4f} ({t.get('p_holm', math.nan):.4f}), {t['p_t']:.4f}, "
                         f"{t['wins']}/{t['ties']}/{t['losses']}")
        std = f" +- {row.test_std:.4f}" if row.seeds > 1 else ""
        steps = ", ".join(str(s) for s in row.best_steps)
        minutes = f"{np.mean(row.minutes):.1f}" if row.minutes else ""
        lines.append(f"| {row.regime} | {row.loss} | {row.seeds} | {_fmt(row.dev_mean)} | {row.test_mean:.4f}{std} "
                     f"| {cells[0]} | {cells[1]} | {steps} | {minutes} |")
    return "\n".join(lines) + "\n"


def rows_to_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [{"regime": r.regime, "loss": r.loss, "seeds": r.seeds, "dev": r.dev, "test": r.test,
             "test_mean": r.test_mean, "test_std": r.test_std, "minutes": r.minutes, "best_steps": r.best_steps,
             "tests": r.tests, "curves": r.curves} for r in rows]


def pair_tests(rows: Sequence[Row], pairs: Sequence[Sequence[str]], n_permutations: int = 10000,
               seed: int = 0) -> list[dict[str, Any]]:
    """Paired tests between any two rows named ``"<regime>/<loss>"`` (e.g. an ablation against its loss)."""
    by_name = {f"{r.regime}/{r.loss}": r for r in rows}
    results: list[dict[str, Any]] = []
    for pair in pairs:
        first, second = (str(name) for name in pair)
        if first not in by_name or second not in by_name:
            continue
        results.append({"a": first, "b": second, **paired(by_name[first].per_query, by_name[second].per_query,
                                                         n_permutations, seed, f"{first} and {second}")})
    return results


def pairs_markdown(results: Sequence[dict[str, Any]]) -> str:
    """The extra paired comparisons as a Markdown table (empty string when there are none)."""
    if not results:
        return ""
    lines = ["| a | b | diff (a - b) | p perm | p t | W/T/L |", "|---|---|---:|---:|---:|---|"]
    lines += [f"| {r['a']} | {r['b']} | {r['diff']:+.4f} | {r['p_perm']:.4f} | {r['p_t']:.4f} | "
              f"{r['wins']}/{r['ties']}/{r['losses']} |" for r in results]
    return "\n".join(lines) + "\n"
