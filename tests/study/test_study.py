"""The study runner's plan, aggregation (means over seeds, paired tests on seed-averaged per-query values),
summary CSV and plots, on synthetic finished runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from gradedpr.evaluation.significance import paired_t_test, randomization_test
from gradedpr.study.aggregate import SUMMARY_COLUMNS, add_tests, collect, markdown_table, summary_csv
from gradedpr.study.plan import plan_runs
from gradedpr.study.plots import plot_dev_curves, plot_test
from gradedpr.study.runner import WALL_FILE, is_finished

QIDS = [f"q{i}" for i in range(12)]
REGIMES = {"frozen": {"overrides": ["experiment=x"], "losses": ["nll", "listnet"], "seeds": [1, 2]}}


def write_metrics(path: Path, values: dict[str, float]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    per_query = {q: {"ndcg@10": v} for q, v in values.items()}
    mean = {"ndcg@10": float(np.mean(list(values.values())))}
    (path / "metrics.json").write_text(json.dumps({"mean": mean, "num_queries": len(values), "mean_over": "qrels",
                                                   "measures": ["ndcg@10"], "extra": {}, "per_query": per_query}))


def fake_study(root: Path) -> dict[tuple[str, int], dict[str, float]]:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.6, len(QIDS))
    written: dict[tuple[str, int], dict[str, float]] = {}
    for run in plan_runs(REGIMES, root, "toy", "test"):
        shift = 0.05 if run.loss == "listnet" else 0.0
        values = {q: float(v + shift + rng.normal(0, 0.01)) for q, v in zip(QIDS, base, strict=True)}
        written[(run.loss, run.seed)] = values
        write_metrics(run.run_dir / "test", values)
        summary = {"best_dev_metric": 0.3 + shift, "best_step": 10 * run.seed,
                   "evaluations": [{"step": 0, "dev/ndcg@10": 0.3}, {"step": 10, "dev/ndcg@10": 0.3 + shift}],
                   "test": {"test/ndcg@10": float(np.mean(list(values.values())))}}
        (run.run_dir / "train_summary.json").write_text(json.dumps(summary))
        (run.run_dir / WALL_FILE).write_text(json.dumps({"seconds": 60.0 * run.seed}))
    write_metrics(root / "baselines" / "zeroshot" / "test", {q: float(v) for q, v in zip(QIDS, base, strict=True)})
    write_metrics(root / "baselines" / "zeroshot" / "dev", {q: 0.3 for q in QIDS})
    return written


def test_plan_gives_every_run_the_regime_overrides_and_the_test_split(tmp_path: Path) -> None:
    runs = plan_runs(REGIMES, tmp_path, "nfcorpus", "test")
    assert [(r.loss, r.seed) for r in runs] == [("nll", 1), ("nll", 2), ("listnet", 1), ("listnet", 2)]
    for run in runs:
        command = run.command("python")
        assert "experiment=x" in command and "data=nfcorpus" in command and "train.test_split=test" in command
        assert f"loss={run.loss}" in command and f"seed={run.seed}" in command
        assert "overwrite=true" in command  # an unfinished run is its own, trained again (issue 16)
    assert len({r.run_dir for r in runs}) == 4
    with pytest.raises(ValueError, match="seeds"):
        plan_runs({"frozen": {"losses": ["nll"], "seeds": []}}, tmp_path, "d", "test")


def test_aggregate_means_tests_and_csv(tmp_path: Path) -> None:
    written = fake_study(tmp_path)
    runs = plan_runs(REGIMES, tmp_path, "toy", "test")
    assert all(is_finished(r, "test") for r in runs)
    (runs[0].run_dir / "test" / "metrics.json").unlink()
    assert not is_finished(runs[0], "test")  # rerun: no per-query file, not finished
    write_metrics(runs[0].run_dir / "test", written[("nll", 1)])
    rows = collect(runs, tmp_path, "test")
    add_tests(rows, n_permutations=2000, seed=0)
    by_loss = {r.loss: r for r in rows}
    listnet = by_loss["listnet"]
    assert listnet.seeds == 2 and listnet.minutes == [1.0, 2.0]
    averaged = np.array([np.mean([written[("listnet", s)][q] for s in (1, 2)]) for q in QIDS])
    nll = np.array([np.mean([written[("nll", s)][q] for s in (1, 2)]) for q in QIDS])
    assert listnet.tests["nll"]["p_perm"] == randomization_test(averaged, nll, n_permutations=2000, seed=0)
    assert listnet.tests["nll"]["p_t"] == pytest.approx(paired_t_test(averaged, nll))
    assert listnet.tests["nll"]["diff"] == pytest.approx(averaged.mean() - nll.mean())
    assert listnet.tests["nll"]["wins"] == 12
    assert "nll" not in by_loss["nll"].tests  # nll is not tested against itself
    table = list(csv.reader(io.StringIO(summary_csv(rows))))
    assert tuple(table[0]) == SUMMARY_COLUMNS
    cells = {(r[0], r[1]): dict(zip(SUMMARY_COLUMNS, r, strict=True)) for r in table[1:]}
    assert cells[("none", "zeroshot")]["dev_ndcg10_mean"] == "0.3000"
    assert float(cells[("frozen", "listnet")]["test_ndcg10_mean"]) == pytest.approx(np.mean(
        [np.mean(list(written[("listnet", s)].values())) for s in (1, 2)]), abs=1e-4)
    assert float(cells[("frozen", "listnet")]["p_vs_nll"]) < 0.01
    assert "listnet" in markdown_table(rows)


def test_plots_are_png(tmp_path: Path) -> None:
    fake_study(tmp_path)
    rows = collect(plan_runs(REGIMES, tmp_path, "toy", "test"), tmp_path, "test")
    plot_test(rows, tmp_path / "a.png")
    plot_dev_curves(rows, tmp_path / "b.png")
    for name in ("a.png", "b.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_on_different_queries_are_refused(tmp_path: Path) -> None:
    fake_study(tmp_path)
    run = plan_runs(REGIMES, tmp_path, "toy", "test")[1]
    write_metrics(run.run_dir / "test", {q: 0.1 for q in QIDS[:-1]})
    with pytest.raises(ValueError, match="different queries"):
        collect(plan_runs(REGIMES, tmp_path, "toy", "test"), tmp_path, "test")


def test_pair_tests_compare_any_two_rows(tmp_path: Path) -> None:
    from gradedpr.study.aggregate import pair_tests, pairs_markdown

    written = fake_study(tmp_path)
    rows = collect(plan_runs(REGIMES, tmp_path, "toy", "test"), tmp_path, "test")
    results = pair_tests(rows, [["frozen/listnet", "frozen/nll"], ["frozen/missing", "frozen/nll"]], n_permutations=500)
    assert len(results) == 1  # a pair naming a row that does not exist is skipped
    a = np.array([np.mean([written[("listnet", s)][q] for s in (1, 2)]) for q in QIDS])
    b = np.array([np.mean([written[("nll", s)][q] for s in (1, 2)]) for q in QIDS])
    assert results[0]["p_perm"] == randomization_test(a, b, n_permutations=500, seed=0)
    assert results[0]["diff"] == pytest.approx(a.mean() - b.mean())
    assert "frozen/listnet" in pairs_markdown(results) and pairs_markdown([]) == ""


def test_a_study_logs_its_runs_as_one_wandb_group(tmp_path: Path) -> None:
    from gradedpr.errors import ConfigError
    from gradedpr.study.plan import logger_overrides

    default = plan_runs(REGIMES, tmp_path, "toy", "test")[0].command("python")
    assert "logger=none" in default
    wandb = plan_runs(REGIMES, tmp_path, "toy", "test", logger_overrides("wandb", "quick"))[0].command("python")
    assert "logger=wandb" in wandb and "logger.group=study-quick" in wandb and "logger=none" not in wandb
    with pytest.raises(ConfigError, match="logger="):
        logger_overrides("tensorboard", "quick")
