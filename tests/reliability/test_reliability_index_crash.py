"""A kill anywhere in ``scripts/index.py`` never wedges the embeddings directory (issue 9, item 2).

A kill between the two moves of a one-shard merge left a shard that looked finished but had lost its matrix;
every later run then failed with a FileNotFoundError traceback until the directory was deleted by hand. Now a
merge links (or copies) the shard's files instead of moving them, the shards are deleted only after the
store's description is written, a shard counts as finished only when its files are all there with the right
sizes, and a shard killed between its last chunk and its rename is renamed by the next run.

The runs here are forked from the test process (the model and the collection are already imported), killed
with SIGKILL at named crash points (``GRADEDPR_CRASH_AT``: the same instants on any machine load), and followed
by a normal run that must succeed and produce exactly the vectors of an uninterrupted run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize
from omegaconf import DictConfig
from reliability_helpers import beir_overrides

from gradedpr.commands.common import register_resolvers
from gradedpr.commands.index import run_index
from gradedpr.config.store import register_configs
from gradedpr.encode.store import EmbeddingStore
from gradedpr.index.dense import DenseIndex
from gradedpr.utils.faults import ENV


def index_config(root: Path, model_dir: Path, out: Path, *extra: str) -> DictConfig:
    with initialize(version_base="1.3", config_path="../../configs"):
        register_resolvers()
        register_configs()
        return compose(config_name="index", overrides=[
            *beir_overrides(root), f"checkpoint={model_dir}", f"output={out}/index", f"embeddings_dir={out}/emb",
            "chunk_size=4", "overwrite=true", *extra,
        ])


def _child(cfg: DictConfig, crash: str | None) -> None:
    if crash:
        os.environ[ENV] = crash
    run_index(cfg)


def run_forked(cfg: DictConfig, crash: str | None = None) -> int | None:
    """Run ``run_index(cfg)`` in a forked child; returns its exit code (-9 when killed)."""
    child = multiprocessing.get_context("fork").Process(target=_child, args=(cfg, crash))
    child.start()
    child.join(120)
    return child.exitcode


@pytest.fixture(scope="module")
def reference(tiny_beir_module: tuple[Path, Path], tiny_model_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    root, _ = tiny_beir_module
    out = tmp_path_factory.mktemp("reference")
    run_index(index_config(root, tiny_model_dir, out))
    return EmbeddingStore.open(out / "emb").load()


@pytest.fixture(scope="module")
def tiny_beir_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    import json

    base = tmp_path_factory.mktemp("beir")
    patch = pytest.MonkeyPatch()
    patch.setenv("GRADEDPR_CACHE_DIR", str(base / "cache"))
    root = base / "beir"
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": "", "text": f"passage number {i} about topic {i % 6}"} for i in range(12)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{t}", "text": f"topic {t}"}) + "\n"
                                                for t in range(6)))
    for split in ("train", "dev", "test"):
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\n")
    yield root, base
    patch.undo()


def assert_recovers(cfg: DictConfig, out: Path, reference: np.ndarray) -> None:
    """The next plain run succeeds, builds the index and leaves exactly the uninterrupted run's vectors."""
    assert run_forked(cfg) == 0
    store = EmbeddingStore.open(out / "emb")
    np.testing.assert_array_equal(store.load(), reference)
    assert list(store.ids) == [f"d{i}" for i in range(12)]
    assert not (out / "emb" / "shards").exists()
    # no orphan: nothing but the store's own files (a kill between the matrix and its description left one)
    assert sorted(p.name for p in (out / "emb").iterdir()) == [".gradedpr-store.json", "embeddings.f32",
                                                                "embeddings.json", "ids.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["emb", "index"]
    assert DenseIndex.load(out / "index").meta["num_vectors"] == 12


POINTS = ["encode_chunk_done@2", "shard_finished", "merge_matrix_placed", "merge_ids_placed", "merge_meta_written"]


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_each_point_of_encode_and_merge_the_next_run_recovers(
        point: str, tiny_beir_module: tuple[Path, Path], tiny_model_dir: Path, tmp_path: Path,
        reference: np.ndarray) -> None:
    cfg = index_config(tiny_beir_module[0], tiny_model_dir, tmp_path)
    assert run_forked(cfg, crash=point) == -signal.SIGKILL
    assert not (tmp_path / "index").exists()
    assert_recovers(cfg, tmp_path, reference)


SEQUENCE = ["encode_chunk_done@1", "encode_chunk_done@1", "encode_chunk_done@1", "shard_finished",
            "merge_matrix_placed", "merge_ids_placed", "merge_meta_written"]
"""Kills one after another in one directory: each run continues what the killed ones left, reaches the next
named point and is killed there (12 passages in chunks of 4: three chunks, then the shard, then the merge)."""


def test_killed_again_and_again_each_run_continues_and_the_last_recovers(
        tiny_beir_module: tuple[Path, Path], tiny_model_dir: Path, tmp_path: Path, reference: np.ndarray) -> None:
    """Deterministic: every kill is at a named point (a random instant used to decide, and whether it landed
    inside a run depended on the machine's load)."""
    cfg = index_config(tiny_beir_module[0], tiny_model_dir, tmp_path, "keep_embeddings=false")
    for point in SEQUENCE:
        assert run_forked(cfg, crash=point) == -signal.SIGKILL, point
        assert not (tmp_path / "index").exists()
    assert_recovers(index_config(tiny_beir_module[0], tiny_model_dir, tmp_path), tmp_path, reference)
