"""sentence-transformers' own fine-tuning as a study row: pairs, the budget stop, the blind run layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradedpr.data.collection import load_collection
from gradedpr.study.blind import is_finished, score_test
from gradedpr.study.plan import plan_runs
from gradedpr.study.st_baseline import run_st_baseline, training_pairs
from test_end_to_end import write_tiny_beir

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("sentence_transformers")


def test_pairs_are_every_relevant_training_judgment(tmp_path: Path) -> None:
    collection = load_collection("beir", str(write_tiny_beir(tmp_path / "tiny")), splits=["train", "dev", "test"])
    pairs = training_pairs(collection, "train", seed=0)
    assert len(pairs) == 12  # 3 train queries x 4 judged passages
    assert ("what about apple", "apple passage 0 on apple number 0") in pairs
    assert pairs != training_pairs(collection, "train", seed=1) and sorted(pairs) == sorted(
        training_pairs(collection, "train", seed=1))


def test_a_run_stops_at_its_budget_and_leaves_a_blind_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_tiny_beir(tmp_path / "tiny")
    collection = load_collection("beir", str(data), splits=["train", "dev", "test"])
    data_cfg = {"name": "tiny", "path": str(data), "format": "beir", "builtin": False,
                "splits": ["train", "dev", "test"], "qrels_files": None, "corpus_file": None, "queries_file": None}
    regimes = {"st": {"tool": "sentence_transformers", "losses": ["mnrl"], "seeds": [1],
                      "st_overrides": ["budget_minutes=0"]}}
    run = plan_runs(regimes, tmp_path / "study", "tiny", "test", blind=True)[0]
    assert run.command("python")[1] == "scripts/st_baseline.py" and "budget_minutes=0" in run.command("python")
    summary = run_st_baseline(data_cfg, collection, run.run_dir, loss="mnrl", seed=1, budget_minutes=0.0,
                              batch_size=4, max_steps=50, start=str(tiny_model_dir))
    assert summary["steps"] == 1  # a zero budget stops after the first step
    assert is_finished(run, "test", blind=True)
    dev = json.loads((run.run_dir / "dev" / "metrics.json").read_text())
    assert set(dev["per_query"]) == {"q3", "q4", "q5"}
    assert dev["mean"]["ndcg@10"] == pytest.approx(summary["best_dev_metric"])
    assert score_test([run], "test", k=10) == 1  # the study scores test as for any blind run
    assert set(json.loads((run.run_dir / "test" / "metrics.json").read_text())["per_query"]) == {"q6", "q7", "q8"}


def test_a_budget_stopped_run_trains_at_the_full_learning_rate(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The schedule cannot be spread over max_steps: a run stopped by its budget would never leave warmup."""
    from gradedpr.study.st_baseline import finetune

    pairs = [(f"query {i}", f"passage {i} about topic {i}") for i in range(40)]
    trained = finetune(str(tiny_model_dir), pairs, tmp_path / "model", loss="mnrl", batch_size=4, lr=1e-4,
                       budget_seconds=3600, max_steps=5, seed=1, warmup_steps=2)
    assert trained["steps"] == 5
    assert trained["last_lr"] == pytest.approx(1e-4)  # a 10% warmup of max_steps=100,000 would still be at ~0


def test_the_script_takes_every_setting_a_study_passes(tmp_path: Path) -> None:
    import importlib.util

    from gradedpr.errors import ConfigError

    spec = importlib.util.spec_from_file_location("st_baseline_script", ROOT / "scripts" / "st_baseline.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    regimes = {"st": {"tool": "sentence_transformers", "losses": ["cached_mnrl"], "seeds": [2],
                      "st_overrides": ["budget_minutes=5", "lr=3e-5"]}}
    run = plan_runs(regimes, tmp_path / "study", "nfcorpus", "test", blind=True)[0]
    values = script.parse(run.command("python")[2:])
    assert script.settings(values) == {"budget_minutes": 5.0, "lr": 3e-5}
    assert values["loss"] == "cached_mnrl" and values["seed"] == "2"
    base = {"data": "nfcorpus", "loss": "mnrl", "run_dir": "x"}
    with pytest.raises(ConfigError, match=r"budget_minutes=soon: expected a float"):
        script.settings({**base, "budget_minutes": "soon"})
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) epochs"):
        script.settings({**base, "epochs": "1"})
    with pytest.raises(ConfigError, match=r"seed=one"):
        script.settings({**base, "seed": "one"})
