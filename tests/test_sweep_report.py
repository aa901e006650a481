"""The sweep report (study/sweep.py): each job's loss read from its config.yaml with a YAML parser, the rows,
paired tests and files written by the study's own aggregation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import stats

from gradedpr.errors import ConfigError
from gradedpr.study.sweep import sweep_runs, write_report

QUERIES = [f"q{i}" for i in range(12)]


def _job(sweep: Path, folder: str, config_yaml: str, best: float = 0.5, shift: float = 0.0) -> None:
    job = sweep / folder
    (job / "test").mkdir(parents=True)
    (job / "config.yaml").write_text(config_yaml, encoding="utf-8")
    per_query = {q: {"ndcg@10": round(0.1 + 0.05 * i + shift * (i % 3), 4)} for i, q in enumerate(QUERIES)}
    mean = float(np.mean([v["ndcg@10"] for v in per_query.values()]))
    summary = {"evaluations": [{"step": 0, "dev/ndcg@10": 0.25}, {"step": 4, "dev/ndcg@10": best}],
               "best_dev_metric": best, "best_step": 4, "test": {"test/ndcg@10": mean}, "steps": 8}
    (job / "train_summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (job / "test" / "metrics.json").write_text(json.dumps({"mean": {"ndcg@10": mean}, "mean_over": "qrels",
                                                                "per_query": per_query}))


def test_a_hydra_written_config_gives_its_loss_name_and_seed(tmp_path: Path) -> None:
    config = {"seed": 3, "model": {"name": "bert"}, "loss": {"name": "lambdaloss", "sigma": 1.0,
                                                             "weighting": {"name": "ndcg2"}}}
    _job(tmp_path, "0", OmegaConf.to_yaml(OmegaConf.create(config)))
    [run] = sweep_runs(tmp_path)
    assert (run.regime, run.loss, run.seed, run.run_dir) == ("sweep", "lambdaloss", 3, tmp_path / "0")


@pytest.mark.parametrize(
    ("config_yaml", "expected"),
    [
        ("loss:\n  name: 'listnet'\n", "listnet"),  # quoted
        ("loss:\n  name: listnet  # the sweep's loss\n", "listnet"),  # trailing comment
        ("loss: {name: ranknet, sigma: 1.0}\n", "ranknet"),  # flow mapping
        ("loss:\n    temperature: 0.05\n    name: nll\n", "nll"),  # four-space indent, name not first
        ("seed: 1\n", "0-job"),  # no loss: the job folder
        ("loss: [unclosed\n", "0-job"),  # not YAML: the job folder
    ],
)
def test_any_yaml_spelling_of_the_loss_is_read(tmp_path: Path, config_yaml: str, expected: str) -> None:
    _job(tmp_path, "0-job", config_yaml)
    assert [run.loss for run in sweep_runs(tmp_path)] == [expected]


def test_the_report_is_the_study_aggregation_with_tests_against_nll(tmp_path: Path) -> None:
    _job(tmp_path, "0", "loss:\n  name: nll\n", best=0.5)
    _job(tmp_path, "1", "loss:\n  name: listnet\n", best=0.625, shift=0.02)
    rows, out = write_report(tmp_path, n_permutations=2000)
    assert [(row.regime, row.loss) for row in rows] == [("sweep", "nll"), ("sweep", "listnet")]
    listnet = rows[1]
    a = [0.1 + 0.05 * i + 0.02 * (i % 3) for i in range(12)]
    b = [0.1 + 0.05 * i for i in range(12)]
    assert listnet.tests["nll"]["diff"] == pytest.approx(np.mean(a) - np.mean(b), abs=1e-4)
    assert listnet.tests["nll"]["p_t"] == pytest.approx(stats.ttest_rel(np.round(a, 4), np.round(b, 4)).pvalue)
    table = (out / "summary.md").read_text(encoding="utf-8").splitlines()
    assert table[2].startswith("| sweep | nll | 1 | 0.5000 |")
    assert table[3].startswith("| sweep | listnet | 1 | 0.6250 |")
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("regime,loss,seeds")
    assert json.loads((out / "summary.json").read_text())["rows"][1]["loss"] == "listnet"
    assert (out / "ndcg_by_loss.png").read_bytes()[:4] == b"\x89PNG"


def test_a_sweep_dir_without_finished_runs_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()  # a job that never finished: no train_summary.json
    with pytest.raises(ConfigError, match=r"sweep_dir=.*no finished runs with a scored test split"):
        write_report(tmp_path)


def test_the_sweep_script_reports_no_finished_runs_in_one_line(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "sweep.py"
    done = subprocess.run([sys.executable, str(script), f"sweep_dir={tmp_path}", "--report-only"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: sweep_dir={tmp_path}: no finished runs with a scored test split (*/train_summary.json, "
        "*/test/metrics.json)"]
    assert "Traceback" not in done.stderr
