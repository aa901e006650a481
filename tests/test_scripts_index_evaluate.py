"""scripts/index.py and scripts/evaluate.py end to end on a tiny BEIR collection with the tiny random BERT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize
from omegaconf import DictConfig

from gradedpr.commands.common import checkpoint_label, register_resolvers
from gradedpr.commands.evaluate import run_evaluate
from gradedpr.commands.index import run_index
from gradedpr.config.store import register_configs
from gradedpr.errors import ConfigError
from gradedpr.index.dense import DenseIndex
from tiny_beir import write_beir

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["apple fruit orchard", "river boat water", "mountain snow climb", "guitar music song", "bread oven bake"]


@pytest.fixture
def collection_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """30 documents on 5 topics, 5 test queries with graded judgments, in BEIR layout."""
    monkeypatch.setenv("GRADEDPR_CACHE_DIR", str(tmp_path / "cache"))
    docs = [{"_id": f"d{t}-{j}", "title": topic.split()[0], "text": f"{topic} number {j} " * (j + 1)}
            for t, topic in enumerate(TOPICS) for j in range(6)]
    queries = {f"q{t}": topic for t, topic in enumerate(TOPICS)}
    judged = [(f"q{t}", f"d{t}-{j}", 2 if j == 0 else 1) for t in range(len(TOPICS)) for j in range(3)]
    return write_beir(tmp_path / "tiny", docs, queries, {"test": judged})


def config(name: str, overrides: list[str]) -> DictConfig:
    with initialize(version_base="1.3", config_path="../configs"):
        register_configs()
        register_resolvers()
        return compose(config_name=name, overrides=overrides)


def data_overrides(root: Path) -> list[str]:
    return [f"data.path={root}", "data.name=tiny", "data.builtin=false", "show_progress=false"]


def test_index_then_evaluate(collection_dir: Path, tiny_model_dir: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    common = [*data_overrides(collection_dir), f"checkpoint={tiny_model_dir}"]
    cfg = config("index", [*common, "faiss=hnsw", "faiss.M=8"])
    # the documented default: the checkpoint's name and a hash of its path (unique per checkpoint)
    assert cfg.output == f"outputs/index/tiny-{checkpoint_label(tiny_model_dir)}-hnsw"
    assert checkpoint_label(tiny_model_dir).startswith(f"{tiny_model_dir.name}-")
    cfg = config("index", [*common, "faiss=hnsw", "faiss.M=8", f"output={out}/index",
                           f"embeddings_dir={out}/emb"])
    index = run_index(cfg)
    assert index is not None
    printed = capsys.readouterr().out
    assert f"index: {out}/index/" in printed and "30 passages of tiny" in printed and "HNSW8,Flat" in printed
    loaded = DenseIndex.load(out / "index")
    assert loaded.meta["index"]["params"]["M"] == 8 and len(loaded.ids) == 30
    assert loaded.meta["encoder"]["checkpoint"] == str(tiny_model_dir.resolve())
    assert (out / "emb" / "embeddings.f32").stat().st_size == 30 * 32 * 4  # kept for other index types

    evaluation = config("evaluate", [*common, f"index={out}/index", f"output={out}/eval", "k=100"])
    result = run_evaluate(evaluation)
    printed = capsys.readouterr().out
    assert "ndcg@10" in printed and "mean over 5 queries" in printed and "trec_eval -c" in printed
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["mean"]["ndcg@10"] == pytest.approx(result.mean["ndcg@10"])
    assert set(metrics["mean"]) == {"ndcg@1", "ndcg@3", "ndcg@5", "ndcg@10", "ndcg@100", "recall@10",
                                    "recall@100", "mrr@10", "map"}
    assert metrics["num_queries"] == 5 and metrics["extra"]["index_type"] == "HNSW8,Flat"
    run_lines = (out / "eval" / "run.trec").read_text().splitlines()
    assert len(run_lines) == 5 * 30 and run_lines[0].split()[1] == "Q0"

    # index=null: exact flat search in memory gives the same run as the saved HNSW on 30 documents
    in_memory = config("evaluate", [*common, f"output={out}/eval2", "k=100"])
    assert run_evaluate(in_memory).mean == pytest.approx(result.mean)
    with pytest.raises(ConfigError, match="k=10: too small"):
        run_evaluate(config("evaluate", [*common, "k=10"]))


def test_sharded_indexing_as_under_torchrun(collection_dir: Path, tiny_model_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config("index", [*data_overrides(collection_dir), f"checkpoint={tiny_model_dir}",
                           f"output={tmp_path}/index", f"embeddings_dir={tmp_path}/emb", "chunk_size=4"])
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert run_index(cfg) is None  # rank 1 only encodes its half
    assert (tmp_path / "emb" / "shards" / "shard-00001-of-00002" / "shard.json").is_file()
    monkeypatch.setenv("RANK", "0")
    index = run_index(cfg)  # rank 0 encodes its half, finds rank 1's, merges, builds
    assert index is not None and len(index.ids) == 30
    assert not (tmp_path / "emb" / "shards").exists()
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    whole = run_index(config("index", [*data_overrides(collection_dir), f"checkpoint={tiny_model_dir}",
                                       f"output={tmp_path}/index2", f"embeddings_dir={tmp_path}/emb2"]))
    assert whole is not None and whole.ids == index.ids
    assert whole.meta["encoder"]["passage_fingerprint"] == index.meta["encoder"]["passage_fingerprint"]


def test_scripts_run_and_refuse_a_foreign_index(collection_dir: Path, tiny_model_dir: Path,
                                                tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    data = data_overrides(collection_dir)
    index_dir = tmp_path / "index"
    built = subprocess.run(
        [sys.executable, "scripts/index.py", *data, f"checkpoint={tiny_model_dir}", f"output={index_dir}",
         f"embeddings_dir={tmp_path}/emb", f"hydra.run.dir={tmp_path}/hydra"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert f"index: {index_dir}/" in built.stdout
    # the bundled MiniLM did not build this index: evaluate.py must refuse it with one clear line
    refused = subprocess.run(
        [sys.executable, "scripts/evaluate.py", *data, "checkpoint=default", f"index={index_dir}",
         f"output={tmp_path}/eval", f"hydra.run.dir={tmp_path}/hydra"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert refused.returncode == 2
    assert "index does not match" in refused.stderr and "dimension: index 32, model 384" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_accel_setting_reaches_the_encoder(collection_dir: Path, tiny_model_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``accel`` travels on the loaded model to every encoding pass; there is no process-wide switch to leak."""
    import gradedpr.encode.batching as batching

    seen: list[bool] = []
    real = batching.onednn_linears

    def record(module: object, on: bool = True) -> object:
        seen.append(on)
        return real(module, on)  # type: ignore[arg-type]

    monkeypatch.setattr(batching, "onednn_linears", record)
    common = [*data_overrides(collection_dir), f"checkpoint={tiny_model_dir}"]
    run_index(config("index", [*common, "accel=false", f"output={tmp_path}/a", f"embeddings_dir={tmp_path}/ea"]))
    assert seen and not any(seen)  # every encoding pass saw accel off
    seen.clear()
    run_index(config("index", [*common, "accel=true", f"output={tmp_path}/b", f"embeddings_dir={tmp_path}/eb"]))
    assert seen and all(seen)
