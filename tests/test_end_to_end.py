"""make train -> scripts/index.py -> scripts/evaluate.py on a tiny BEIR collection with a random-init tiny BERT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gradedpr.data.runs import read_trec_run
from tiny_beir import TOPICS, write_tiny_beir  # noqa: F401  (TOPICS: still imported from here by other tests)

ROOT = Path(__file__).resolve().parent.parent
def run_script(script: str, *overrides: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "offline"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *overrides],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def test_train_index_evaluate(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_tiny_beir(tmp_path / "tiny")
    data_args = [f"data.path={data}", "data.builtin=false", "data.name=tiny"]
    run_dir = tmp_path / "run"
    out = run_script(
        "train.py", *data_args, f"model.name_or_path={tiny_model_dir}", "logger=wandb",
        "train.max_steps=4", "train.eval_every=2", "train.save_every=2", "train.batch_size=2",
        "train.group_size=3", "train.negatives=bm25", "train.eval_k=10", "train.lr=1e-3",
        f"hydra.run.dir={run_dir}", "show_progress=false",
    )
    assert "ndcg@10 on dev" in out
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "dev/ndcg@10" in r] == [0, 2, 4]
    assert sum("train/loss" in r for r in records) == 4
    sizes = next(r for r in records if "data/corpus" in r)  # what the model card shows, logged at step 0
    assert sizes["data/corpus"] == 36 and sizes["data/dev_queries"] == 3
    assert list((run_dir / "wandb").glob("offline-run-*")), "offline wandb run missing"
    best = run_dir / "checkpoints" / "best"
    assert (best / "gradedpr.json").exists() and (best / "query_encoder" / "model.safetensors").exists()

    index_dir = tmp_path / "index"
    out = run_script("index.py", *data_args, f"checkpoint={best}", f"output={index_dir}",
                     f"embeddings_dir={tmp_path / 'emb'}", "show_progress=false")
    assert str(index_dir) in out

    eval_dir = tmp_path / "eval"
    out = run_script("evaluate.py", *data_args, f"checkpoint={best}", f"index={index_dir}", "split=test",
                     f"output={eval_dir}", "k=100", "show_progress=false")
    assert "ndcg@10" in out
    metrics = json.loads(next(eval_dir.glob("*.json")).read_text())
    assert metrics["num_queries"] == 3
    run_files = [p for p in eval_dir.iterdir() if p.suffix in (".run", ".trec", ".txt")]
    assert run_files, f"no TREC run file in {sorted(p.name for p in eval_dir.iterdir())}"
    run = read_trec_run(run_files[0])
    assert set(run) == {"q6", "q7", "q8"} and all(len(docs) == 36 for docs in run.values())


def test_bad_data_is_one_clear_line(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_tiny_beir(tmp_path / "bad")
    with open(data / "qrels" / "train.tsv", "a") as qrels:
        qrels.write("q0\tno-such-doc\t1\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), f"data.path={data}", "data.builtin=false",
         "data.name=bad", f"model.name_or_path={tiny_model_dir}", "logger=none",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "train.tsv:14" in done.stderr and "no-such-doc" in done.stderr
