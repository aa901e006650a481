"""scripts/train.py in both regimes on a tiny BEIR collection: test run files, frozen passages, mined negatives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradedpr.data.runs import read_trec_run
from gradedpr.encode.fingerprint import encoder_fingerprint
from gradedpr.model import BiEncoder
from test_end_to_end import run_script
from tiny_beir import write_tiny_beir


def common(data: Path, model: Path, run_dir: Path) -> list[str]:
    return [f"data.path={data}", "data.builtin=false", "data.name=tiny", f"model.name_or_path={model}",
            "logger=none", "train.max_steps=4", "train.eval_every=2", "train.batch_size=2", "train.eval_k=10",
            "train.lr=1e-3", "train.test_split=test", f"hydra.run.dir={run_dir}", "show_progress=false"]


def check_test_outputs(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert "test/ndcg@10" in summary["test"]
    metrics = json.loads((run_dir / "test" / "metrics.json").read_text())
    assert metrics["mean_over"] == "qrels" and set(metrics["per_query"]) == {"q6", "q7", "q8"}
    assert metrics["mean"]["ndcg@10"] == pytest.approx(summary["test"]["test/ndcg@10"])
    assert set(read_trec_run(run_dir / "test" / "run.trec")) == {"q6", "q7", "q8"}
    card = (Path(summary["test_checkpoint"]) / "README.md").read_text()
    assert "test" in card.lower()
    return summary


def test_frozen_regime_trains_queries_only_and_keeps_test_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_tiny_beir(tmp_path / "tiny")
    run_dir = tmp_path / "frozen"
    emb = tmp_path / "emb"
    run_script("train.py", *common(data, tiny_model_dir, run_dir), "train.regime=frozen",
               f"train.embeddings_dir={emb}", "train.frozen.candidates=topk", "train.frozen.topk=5",
               "train.frozen.random=3")
    check_test_outputs(run_dir)
    assert (emb / "embeddings.json").is_file()  # the store the passages were encoded into, once
    last = BiEncoder.from_pretrained(run_dir / "checkpoints" / "last")
    start = BiEncoder.from_pretrained(tiny_model_dir, passage_max_length=last.config.passage_max_length)
    assert encoder_fingerprint(last, "passage") == encoder_fingerprint(start, "passage")
    assert encoder_fingerprint(last, "query") != encoder_fingerprint(start, "query")


def test_full_regime_with_model_negatives_refreshed(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_tiny_beir(tmp_path / "tiny")
    run_dir = tmp_path / "full"
    out = run_script("train.py", *common(data, tiny_model_dir, run_dir), "train.group_size=3",
                     "train.negatives=model", "train.negatives_depth=8", "train.negatives_refresh_every=2",
                     "train.eval_passage_max_length=32", "train.test_passage_max_length=64", "train.dev_pool=2")
    assert "re-mining negatives" in out
    pool = json.loads((run_dir / "dev_pool.json").read_text())  # dev ranked a fixed pool, test the whole corpus
    assert pool["k"] == 2 and f"dev pool: {len(pool['docs'])} of 36 documents" in out
    check_test_outputs(run_dir)
    assert json.loads((run_dir / "test" / "metrics.json").read_text())["extra"]["model"]["passage_max_length"] == 64


def test_bad_regime_settings_are_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    data = write_tiny_beir(tmp_path / "tiny")
    cases = (("train.regime=half", "train.regime"), ("train.negatives=magic", "train.negatives"),
             ("train.frozen.topk=0", "train.frozen.topk"), ("train.batch_size=0", "train.batch_size"),
             ("train.negatives_refresh_every=5", "train.negatives_refresh_every"))
    for bad, message in cases:
        extra = ["train.regime=frozen"] if "frozen" in bad else []
        done = subprocess.run(
            [sys.executable, "scripts/train.py", *common(data, tiny_model_dir, tmp_path / "r"), *extra, bad],
            cwd=Path(__file__).resolve().parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"},
            capture_output=True, text=True, timeout=300,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0], (bad, done.stderr[-500:])


def test_frozen_regime_refuses_a_store_of_another_encoder(tiny_model_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    data = write_tiny_beir(tmp_path / "tiny")
    emb = tmp_path / "emb"
    run_script("train.py", *common(data, tiny_model_dir, tmp_path / "a"), "train.regime=frozen",
               f"train.embeddings_dir={emb}", "train.max_steps=1")
    before = sorted((p.name, p.stat().st_size) for p in emb.iterdir())
    done = subprocess.run(  # another passage length = another passage encoder identity
        [sys.executable, "scripts/train.py", *common(data, tiny_model_dir, tmp_path / "b"), "train.regime=frozen",
         f"train.embeddings_dir={emb}", "model.passage_max_length=16"],
        cwd=Path(__file__).resolve().parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(emb) in lines[0] and "another passage encoder or corpus" in lines[0]
    assert sorted((p.name, p.stat().st_size) for p in emb.iterdir()) == before


def test_generalization_settings_guard_subset_heldout_epochs(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A query subset, held-out documents and an epoch schedule shape the run; a guard that no trained model can
    pass (p < 1e-6 with 10,000 sign flips) keeps the start model as checkpoints/best and says so."""
    data = write_tiny_beir(tmp_path / "tiny")
    run_dir = tmp_path / "guarded"
    # dev = the training queries, so that a trained checkpoint surely wins on dev and the guard must refuse it
    out = run_script("train.py", *common(data, tiny_model_dir, run_dir), "train.regime=frozen",
                     f"train.embeddings_dir={tmp_path / 'emb'}", "train.query_subset=2", "train.heldout_docs=0.25",
                     "train.subset_seed=3", "train.epochs=3", "train.eval_every_epochs=1", "train.guard_p=1e-6",
                     "train.eval_split=train")
    assert "query subset: 2 of 3 training queries (seed 3)" in out
    assert "unseen documents: 9 of 36 held out of training (seed 3)" in out
    assert "schedule: 3 epochs of 2 training queries = 3 steps (cap 4), dev every 1 steps" in out
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["best_step"] > 0
    assert summary["selected"] == "start" and summary["selected_step"] == 0 and "keeps the START model" in out
    assert summary["guard"]["keep_trained"] is False and summary["guard"]["level"] == 1e-6
    assert summary["guard"]["trained"] == pytest.approx(summary["best_dev_metric"])
    best = BiEncoder.from_pretrained(run_dir / "checkpoints" / "best")
    start = BiEncoder.from_pretrained(tiny_model_dir, passage_max_length=best.config.passage_max_length)
    assert encoder_fingerprint(best, "query") == encoder_fingerprint(start, "query")  # the start model, kept
    refused = BiEncoder.from_pretrained(run_dir / "checkpoints" / "trained_best")  # kept aside for inspection
    assert encoder_fingerprint(refused, "query") != encoder_fingerprint(start, "query")
    dev = json.loads((run_dir / "train" / "metrics.json").read_text())
    assert dev["extra"]["selected"] == "start" and set(dev["per_query"]) == {"q0", "q1", "q2"}
    assert dev["mean"]["ndcg@10"] == pytest.approx(summary["guard"]["start"])
    assert set(read_trec_run(run_dir / "train" / "run.trec")) == {"q0", "q1", "q2"}
    check_test_outputs(run_dir)  # the test split scores the kept (start) model
