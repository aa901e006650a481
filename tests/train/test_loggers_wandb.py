"""The offline wandb run a training leaves: config, per-step history, summary, best-checkpoint table; no network.

The run's ``.wandb`` file (what ``wandb sync`` uploads) is read record by record: it is a LevelDB-style log of
``wandb.proto.wandb_internal_pb2.Record`` messages after a 7-byte header.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gradedpr.train.loggers import BEST_TABLE_KEY, MetricsLogger

pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")

CONFIG = {"model": {"name_or_path": "default", "temperature": 0.05}, "loss": {"name": "listnet"}, "seed": 42,
          "train": {"max_steps": 4, "test_split": "test"}}
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[Any]:
    """The protobuf records of a ``.wandb`` file (chunk checksums are not verified)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a wandb transaction log"
    records, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        if _BLOCK - pos % _BLOCK < 7:  # a block's tail too short for a chunk header is padding
            pos += _BLOCK - pos % _BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == _FULL:
            records.append(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            records.append(pending + chunk)
        elif kind == 0 and length == 0:
            pos += _BLOCK - pos % _BLOCK if pos % _BLOCK else 0
    parsed = []
    for raw in records:
        record = pb.Record()
        record.ParseFromString(raw)
        parsed.append(record)
    return parsed


def complete_records(path: Path, timeout: float = 60.0) -> list[Any]:
    """The records once the log ends with the run's ``exit`` record (the writer may lag behind ``finish``)."""
    deadline = time.monotonic() + timeout
    while True:
        records = read_records(path)
        kinds = [r.WhichOneof("record_type") for r in records]
        if ("exit" in kinds and "run" in kinds) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def test_offline_run_directory_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    logger = MetricsLogger(tmp_path, {"name": "wandb", "mode": "offline", "project": "gradedpr-test"}, CONFIG)
    logger.log({"data/corpus": 36, "data/train_queries": 3}, 0)
    logger.log({"dev/ndcg@10": 0.50, "dev/map": 0.40, "dev/seconds": 1.0}, 0)
    for step in (1, 2, 3, 4):  # in the trainer's order: a step's loss, then that step's evaluation
        logger.log({"train/loss": 1.0 / step}, step)
        if step % 2 == 0:
            logger.log({"dev/ndcg@10": 0.70 if step == 2 else 0.65, "dev/map": 0.55 if step == 2 else 0.50,
                        "dev/seconds": 1.0}, step)
    logger.summary({"steps": 4, "best_step": 2, "best_dev_metric": 0.70, "eval_metric": "ndcg@10"})
    logger.log({"test/ndcg@10": 0.61, "test/map": 0.47}, 4)
    logger.summary({"test/ndcg@10": 0.61, "test/map": 0.47})
    columns, rows = logger.best_checkpoint_table()
    logger.close()

    assert columns == ["measure", "dev (step 2)", "test"]
    assert rows == [["ndcg@10", 0.70, 0.61], ["map", 0.55, 0.47]]
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    run_dir = runs[0]
    records = complete_records(next(run_dir.glob("run-*.wandb")))

    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    config = {u.key: json.loads(u.value_json) for u in run.config.update if u.key != "_wandb"}
    assert config == CONFIG  # the resolved config, nested as given

    history: dict[int, dict[str, Any]] = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            row = {_key(i): json.loads(i.value_json) for i in record.history.item}
            history.setdefault(row["_step"], {}).update(row)
    assert [s for s, row in sorted(history.items()) if "dev/ndcg@10" in row] == [0, 2, 4]
    assert [s for s, row in sorted(history.items()) if "train/loss" in row] == [1, 2, 3, 4]
    assert history[4]["test/ndcg@10"] == 0.61

    summary: dict[str, Any] = {}
    for record in records:
        if record.WhichOneof("record_type") == "summary":
            for update in record.summary.update:
                summary[_key(update)] = json.loads(update.value_json)
    assert summary["dev/ndcg@10"] == 0.65 and summary["dev/map"] == 0.50  # final dev metrics
    assert summary["test/ndcg@10"] == 0.61 and summary["best_step"] == 2 and summary["steps"] == 4
    assert summary["best/dev/ndcg@10"] == 0.70
    assert summary[f"{BEST_TABLE_KEY}/_type"] == "table-file"
    table_file = run_dir / "files" / summary[f"{BEST_TABLE_KEY}/path"]
    table = json.loads(table_file.read_text())
    assert table["columns"] == columns and table["data"] == rows

    # What `wandb sync` would upload, checked without network.
    wandb_cli = Path(sys.executable).parent / "wandb"
    done = subprocess.run([str(wandb_cli), "sync", "--dry-run", str(run_dir)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "WANDB_MODE": "offline"})
    assert done.returncode == 0, done.stderr
    assert "Would sync 1 run" in done.stdout + done.stderr


def test_no_table_without_evaluations(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path, None, {})
    logger.log({"train/loss": 1.0}, 1)
    logger.summary({"steps": 1, "best_step": None})
    assert logger.best_checkpoint_table() == ([], [])
    logger.close()
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"step": 1, "train/loss": 1.0}


def test_offline_run_is_named_grouped_tagged_and_carries_the_best_checkpoint(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Read back from the offline run's ``.wandb`` log: display name = run directory, group, job type, tags, and
    with ``log_model`` the best checkpoint as a ``model`` artifact (its files in the manifest)."""
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "nfcorpus-listnet-s1-20261204"
    best = run_dir / "checkpoints" / "best"
    best.mkdir(parents=True)
    (best / "gradedpr.json").write_text("{}")
    (best / "README.md").write_text("# card")
    config = {**CONFIG, "train": {"regime": "frozen"}, "data": {"name": "nfcorpus"}}
    logger = MetricsLogger(run_dir, {"name": "wandb", "mode": "offline", "group": "nfcorpus", "tags": ["mine"],
                                     "log_model": True}, config)
    logger.log({"dev/ndcg@10": 0.5}, 0)
    logger.summary({"best_step": 0, "best_dev_metric": 0.5, "eval_metric": "ndcg@10"})
    logger.close()
    records = complete_records(next((run_dir / "wandb").glob("offline-run-*/run-*.wandb")))
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.display_name == "nfcorpus-listnet-s1-20261204" and run.run_group == "nfcorpus"
    assert run.job_type == "train"
    assert list(run.tags) == ["loss:listnet", "regime:frozen", "data:nfcorpus", "mine"]
    artifacts = [r.artifact for r in records
                 if r.WhichOneof("record_type") == "artifact" and r.artifact.type == "model"]
    assert [a.name for a in artifacts] == ["model-nfcorpus-listnet-s1-20261204"]
    assert {c.path for c in artifacts[0].manifest.contents} == {"gradedpr.json", "README.md"}
    assert "best" in artifacts[0].aliases


def test_without_log_model_no_artifact_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradedpr.train.loggers import wandb_init_kwargs

    kwargs = wandb_init_kwargs(tmp_path / "r1", {"name": "wandb"}, {"loss": {"name": "nll"}})
    assert (kwargs["name"], kwargs["group"], kwargs["job_type"], kwargs["tags"]) == ("r1", None, "train", ["loss:nll"])
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "checkpoints" / "best").mkdir(parents=True)
    (tmp_path / "checkpoints" / "best" / "gradedpr.json").write_text("{}")
    logger = MetricsLogger(tmp_path, {"name": "wandb", "mode": "offline", "run_name": "named"}, CONFIG)
    logger.close()
    records = complete_records(next((tmp_path / "wandb").glob("offline-run-*/run-*.wandb")))
    assert next(r.run for r in records if r.WhichOneof("record_type") == "run").display_name == "named"
    assert not [r for r in records if r.WhichOneof("record_type") == "artifact" and r.artifact.type == "model"]
