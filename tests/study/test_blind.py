"""Blind studies: runs see dev only; the evidence (per-query values, paired tests, tables) is written so that
every p-value can be recomputed, including on documents held out of training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from evidence_check import check_summary
from omegaconf import OmegaConf

from gradedpr.data.collection import load_collection
from gradedpr.data.runs import write_trec_run
from gradedpr.data.subsets import heldout_documents, top_grade_only
from gradedpr.errors import ConfigError
from gradedpr.study.blind import blind_study
from gradedpr.study.plan import plan_runs, seed_major
from gradedpr.study.runner import is_finished
from tiny_beir import TOPICS, write_tiny_beir

REGIMES = {
    "few": {"overrides": ["experiment=x", "train.query_subset=2"], "losses": ["graded_infonce"], "seeds": [1, 2, 3],
            "top_grade": True},
    "unseen": {"overrides": ["experiment=x", "train.heldout_docs=0.5"], "losses": ["graded_infonce", "nll_all"],
               "seeds": [1, 2], "controls": ["nll_all"], "heldout": {"fraction": 0.5, "seed": 0}},
}


def test_blind_runs_never_get_a_test_split_and_run_seed_major(tmp_path: Path) -> None:
    runs = plan_runs(REGIMES, tmp_path, "tiny", "test", blind=True)
    assert all("train.test_split=test" not in r.command("python") for r in runs)
    assert all("data=tiny" in r.command("python") for r in runs)
    assert any("train.test_split=test" in r.command("python") for r in plan_runs(REGIMES, tmp_path, "tiny", "test"))
    ordered = seed_major(runs, REGIMES)
    assert [(r.regime, r.seed) for r in ordered[:3]] == [("few", 1), ("unseen", 1), ("unseen", 1)]
    assert [r.seed for r in ordered] == [1, 1, 1, 2, 2, 2, 3]
    other = plan_runs({"g": {"losses": ["nll"], "seeds": [1], "data": "other"}}, tmp_path, "tiny", "test")
    assert "data=other" in other[0].command("python")


def test_loss_overrides_tune_each_loss_of_one_regime(tmp_path: Path) -> None:
    """Each loss of a regime gets its own hyper-parameters after the regime's overrides; the others get none."""
    regimes = {"tuned": {"overrides": ["experiment=x"], "losses": ["approx_ndcg", "graded_infonce"], "seeds": [1],
                         "loss_overrides": {"approx_ndcg": ["loss.kwargs.temperature=0.3"]},
                         "controls": ["graded_infonce"]}}
    approx, control = plan_runs(regimes, tmp_path, "tiny", "test", blind=True)
    assert approx.command("python")[2:5] == ["experiment=x", "loss.kwargs.temperature=0.3", "data=tiny"]
    assert not any("temperature" in part for part in control.command("python"))
    regimes["tuned"]["loss_overrides"] = {"lambdaloss": ["loss.kwargs.sigma=1"]}
    with pytest.raises(ConfigError, match="loss_overrides: lambdaloss not in the regime's losses"):
        plan_runs(regimes, tmp_path, "tiny", "test")


def fake_run(run_dir: Path, data: Path, split: str, rng: np.random.Generator, selected: str = "trained") -> None:
    """What a finished blind run leaves: config, summary with the guard's choice, the selected model's dev run."""
    (run_dir / "checkpoints" / "best").mkdir(parents=True)
    config = {"data": {"name": "tiny", "path": str(data), "format": "beir", "builtin": False,
                       "splits": ["train", "dev", "test"], "qrels_files": None, "corpus_file": None,
                       "queries_file": None},
              "train": {"regime": "frozen", "embeddings_dir": None}}
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(config))
    (run_dir / "train_summary.json").write_text(json.dumps({"steps": 10, "best_step": 4, "selected": selected}))
    docs = [f"{t}-{i}" for t in TOPICS for i in range(4)]
    queries = {"dev": ["q3", "q4", "q5"], "test": ["q6", "q7", "q8"]}[split]
    run = {q: {d: float(rng.uniform()) for d in docs} for q in queries}
    write_trec_run(run_dir / split / "run.trec", run, tag="fake")


def test_blind_study_writes_recomputable_evidence_with_unseen_variant(tmp_path: Path) -> None:
    data = write_tiny_beir(tmp_path / "tiny")
    output = tmp_path / "study"
    runs = plan_runs(REGIMES, output, "tiny", "test", blind=True)
    rng = np.random.default_rng(0)
    for i, run in enumerate(runs):
        fake_run(run.run_dir, data, "dev", rng, selected="start" if i == 0 else "trained")
        assert is_finished(run, "test", blind=True) and not is_finished(run, "test")
    fake_run(output / "baselines" / "zeroshot", data, "dev", rng)
    cfg = OmegaConf.create({"study": {"split": "test", "dev_split": "dev", "data": {"name": "tiny"}},
                            "docs": str(tmp_path / "docs"), "n_permutations": 2000, "permutation_seed": 0,
                            "test": False})
    table = blind_study(cfg, REGIMES, runs, output)
    summary = json.loads((tmp_path / "docs" / "summary.json").read_text())
    assert {r["split"] for r in summary["rows"]} == {"dev"}  # blind: no test before test=true
    keys = {(r["regime"], r["loss"], r["variant"]) for r in summary["rows"]}
    assert keys == {("few", "graded_infonce", "all"), ("few", "graded_infonce", "top_grade"),
                    ("unseen", "graded_infonce", "all"),
                    ("unseen", "nll_all", "all"), ("unseen", "graded_infonce", "unseen"),
                    ("unseen", "nll_all", "unseen")}
    top = json.loads((tmp_path / "docs" / "perquery" / "dev" / "few.top_grade.json").read_text())
    dev_qrels = load_collection("beir", str(data), splits=["dev"]).qrels["dev"]
    assert set(top["zeroshot"]) == set(top_grade_only(dev_qrels))  # the queries with a top-grade document
    few = next(r for r in summary["rows"] if r["regime"] == "few" and r["variant"] == "all")
    assert few["kept_start"] == 1 and len(few["per_seed"]) == 3
    assert few["std"] == pytest.approx(float(np.std(few["per_seed"], ddof=1)))
    unseen = next(r for r in summary["rows"] if r["variant"] == "unseen" and r["loss"] == "graded_infonce")
    assert "nll_all" in unseen["tests"] and "zeroshot" in unseen["tests"]
    # the unseen variant keeps only judgments of held-out documents, over queries that have one
    held = heldout_documents([f"{t}-{i}" for t in TOPICS for i in range(4)], 0.5, 0)
    evidence = json.loads((tmp_path / "docs" / "perquery" / "dev" / "unseen.unseen.json").read_text())
    want_queries = {f"q{t}" for t in (3, 4, 5) if any(f"{TOPICS[t]}-{i}" in held for i in range(4))}
    assert set(evidence["zeroshot"]) == want_queries
    assert check_summary(tmp_path / "docs", permutation_slack=0.2) >= 1  # few queries: a looser Monte-Carlo match
    assert "| dev | unseen | unseen | graded_infonce |" in table
    # the tiny collection's test documents are judged for no training query: nothing to learn transductively
    assert summary["data"] == {"tiny": {"test_judged_pairs": 12, "test_pairs_judged_for_train_queries": 0},
                               "unseen.heldout_documents": 18}


def test_score_test_scores_the_selected_and_the_refused_checkpoint_once(tiny_model_dir: Path, tmp_path: Path) -> None:
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.study.blind import score_test

    data = write_tiny_beir(tmp_path / "tiny")
    regimes = {"few": {"losses": ["graded_infonce"], "seeds": [1, 2]}}
    runs = plan_runs(regimes, tmp_path / "study", "tiny", "test", blind=True)
    rng = np.random.default_rng(1)
    model = BiEncoder.from_pretrained(tiny_model_dir)
    for run in runs:
        fake_run(run.run_dir, data, "dev", rng)
        (run.run_dir / "config.yaml").write_text((run.run_dir / "config.yaml").read_text().replace(
            "regime: frozen", "regime: full\n  eval_split: dev\n  test_passage_max_length: 48"))
        model.save_pretrained(run.run_dir / "checkpoints" / "best")
    model.save_pretrained(runs[0].run_dir / "checkpoints" / "trained_best")  # the guard refused this one
    assert score_test(runs, "test", k=10) == 3
    for run in runs:
        metrics = json.loads((run.run_dir / "test" / "metrics.json").read_text())
        assert set(metrics["per_query"]) == {"q6", "q7", "q8"} and metrics["extra"]["checkpoint"] == "best"
    assert (runs[0].run_dir / "test_trained" / "run.trec").is_file()
    # passages encoded at the run's test length, not the length the checkpoint trained with (128 in its config)
    assert model.config.passage_max_length == 128
    assert {json.loads((r.run_dir / "test" / "metrics.json").read_text())["extra"]["passage_max_length"]
            for r in runs} == {48}
    assert not (runs[1].run_dir / "test_trained").exists()
    assert score_test(runs, "test", k=10) == 0  # scored once: a rerun changes nothing
    # the aggregate now has test rows, and a no-guard view that takes the refused checkpoint where there is one
    fake_run(tmp_path / "study" / "baselines" / "zeroshot", data, "dev", rng)
    fake_run_test = tmp_path / "study" / "baselines" / "zeroshot"
    write_trec_run(fake_run_test / "test" / "run.trec", {q: {"apple-0": 1.0} for q in ("q6", "q7", "q8")}, tag="z")
    cfg = OmegaConf.create({"study": {"split": "test", "dev_split": "dev", "data": {"name": "tiny"}},
                            "docs": str(tmp_path / "docs"), "n_permutations": 500, "permutation_seed": 0,
                            "test": False})
    blind_study(cfg, regimes, runs, tmp_path / "study")
    splits = {r["split"] for r in json.loads((tmp_path / "docs" / "summary.json").read_text())["rows"]}
    assert splits == {"dev", "test", "test_no_guard"}
    assert (tmp_path / "docs" / "perquery" / "test_no_guard" / "few.all.json").is_file()


def test_against_tests_each_loss_against_the_same_loss_of_an_earlier_regime(tmp_path: Path) -> None:
    """``against: whole``: bounded lists' graded InfoNCE is tested against whole-corpus graded InfoNCE, the two
    regimes' seed-averaged per-query values paired, exactly as scipy's paired t-test computes it."""
    from scipy import stats

    data = write_tiny_beir(tmp_path / "tiny")
    output = tmp_path / "study"
    regimes = {"whole": {"losses": ["graded_infonce"], "seeds": [1, 2]},
               "bounded": {"losses": ["graded_infonce"], "seeds": [1, 2], "against": "whole"}}
    runs = plan_runs(regimes, output, "tiny", "test", blind=True)
    rng = np.random.default_rng(3)
    for run in runs:
        fake_run(run.run_dir, data, "dev", rng)
    fake_run(output / "baselines" / "zeroshot", data, "dev", rng)
    cfg = OmegaConf.create({"study": {"split": "test", "dev_split": "dev", "data": {"name": "tiny"}},
                            "docs": str(tmp_path / "docs"), "n_permutations": 500, "permutation_seed": 0,
                            "test": False})
    table = blind_study(cfg, regimes, runs, output)
    rows = {r["regime"]: r for r in json.loads((tmp_path / "docs" / "summary.json").read_text())["rows"]}
    assert set(rows["whole"]["tests"]) == {"zeroshot"}
    test = rows["bounded"]["tests"]["whole/graded_infonce"]
    per_query = {name: json.loads((tmp_path / "docs" / "perquery" / "dev" / f"{name}.all.json").read_text())
                 for name in ("whole", "bounded")}
    means = {name: {q: np.mean([seed[q] for seed in ev["runs"]["graded_infonce"].values()])
                    for q in ev["zeroshot"]} for name, ev in per_query.items()}
    queries = sorted(means["whole"])
    a, b = [means["bounded"][q] for q in queries], [means["whole"][q] for q in queries]
    assert test["diff"] == pytest.approx(float(np.mean(a) - np.mean(b)))
    assert test["p_t"] == pytest.approx(float(stats.ttest_rel(a, b).pvalue))
    assert "vs whole/graded_infonce" in table.splitlines()[0]
