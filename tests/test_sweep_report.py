"""The sweep report reads each job's loss from its config.yaml with a YAML parser (commands/sweep.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gradedpr.commands.sweep import collect, to_csv, write_report


def _job(sweep: Path, folder: str, config_yaml: str, best: float = 0.5) -> None:
    job = sweep / folder
    job.mkdir(parents=True)
    (job / "config.yaml").write_text(config_yaml, encoding="utf-8")
    summary = {"evaluations": [{"dev/ndcg@10": 0.25}], "best_dev_metric": best, "best_step": 4,
               "test": {"test/ndcg@10": 0.375}, "steps": 8, "seconds": 1.5}
    (job / "train_summary.json").write_text(json.dumps(summary), encoding="utf-8")


def test_a_hydra_written_config_gives_its_loss_name(tmp_path: Path) -> None:
    config = {"seed": 1, "model": {"name": "bert"}, "loss": {"name": "lambdaloss", "sigma": 1.0,
                                                             "weighting": {"name": "ndcg2"}}}
    _job(tmp_path, "0", OmegaConf.to_yaml(OmegaConf.create(config)))
    assert collect(tmp_path) == [{"loss": "lambdaloss", "dev_ndcg@10_step0": 0.25, "dev_ndcg@10_best": 0.5,
                                  "best_step": 4, "test_ndcg@10": 0.375, "steps": 8, "seconds": 1.5}]
    assert to_csv(collect(tmp_path)).splitlines()[1] == "lambdaloss,0.25,0.5,4,0.375,8,1.5"


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
    assert [row["loss"] for row in collect(tmp_path)] == [expected]


def test_the_report_files_are_written(tmp_path: Path) -> None:
    _job(tmp_path, "0", "loss:\n  name: nll\n", best=0.5)
    _job(tmp_path, "1", "loss:\n  name: listnet\n", best=0.625)
    rows, out = write_report(tmp_path)
    assert [row["loss"] for row in rows] == ["nll", "listnet"]
    assert (out / "summary.md").read_text(encoding="utf-8").splitlines()[2:] == [
        "| nll | 0.2500 | 0.5000 | 4 | 0.3750 | 8 | 1.5000 |",
        "| listnet | 0.2500 | 0.6250 | 4 | 0.3750 | 8 | 1.5000 |",
    ]
    assert (out / "ndcg_by_loss.png").read_bytes()[:4] == b"\x89PNG"
