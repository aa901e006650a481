"""``--help`` of every script is generated from the schema (groups it accepts, every setting with its default and
description); ``--cfg job`` shows the chosen loss's hyper-parameters."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize

from gradedpr.commands.common import register_resolvers
from gradedpr.commands.help import APPS, GROUPS, field_comments, render_help
from gradedpr.config import schema
from gradedpr.config.store import register_configs

ROOT = Path(__file__).resolve().parents[2]
ALL_GROUPS = {"model", "data", "loss", "train", "logger", "experiment", "faiss", "study"}


def hydra_help(script: str) -> str:
    """The text Hydra prints for ``scripts/<script>.py --help`` (the template resolved in this process)."""
    register_configs()
    register_resolvers()
    with initialize(version_base="1.3", config_path="../../configs"):
        cfg = compose(config_name=script, return_hydra_config=True)
        return str(cfg.hydra.help.template).replace("$$", "$")


def setting_keys(cls: type[Any], prefix: str = "") -> list[str]:
    keys = []
    for item in fields(cls):
        default = item.default_factory() if callable(item.default_factory) else None
        if is_dataclass(default):
            keys += setting_keys(type(default), f"{prefix}{item.name}.")
        elif item.name != "faiss":
            keys.append(prefix + item.name)
    return keys


def group_lines(text: str) -> set[str]:
    """The group names of the help's "Config groups" block."""
    block = text.split("composes):\n")[1].split("\n\n")[0] if "Config groups" in text else ""
    return {line.split()[0] for line in block.splitlines() if re.match(r"  \S", line)}


@pytest.mark.parametrize("script", ["train", "index", "evaluate", "export", "study"])
def test_help_lists_the_accepted_groups_and_every_setting_with_its_description(script: str) -> None:
    text = hydra_help(script)
    assert text.startswith(f"scripts/{script}.py: ")
    assert group_lines(text) == set(GROUPS[script])  # nothing the script refuses (index.py has no model group)
    assert "schema/" not in text
    app = APPS[script]
    if app is not None:
        for key in setting_keys(app):
            assert re.search(rf"^  {re.escape(key)} = ", text, re.M), key
        docs = field_comments()[app.__name__]
        for name, doc in docs.items():
            if doc and name != "faiss":  # index.py's faiss is a group (its parameters are listed per type)
                assert " ".join(doc.split()[:4]) in " ".join(text.split()), (name, doc)
    if script == "train":
        assert "dpr, minilm" in text and "lambdaloss: weighting=ndcg_loss2pp" in text
        assert "train.batch_size = 8" in text and "train.frozen.topk = 100" in text
    if script == "index":
        assert "faiss.* with faiss=hnsw" in text and "faiss.ef_search = 128" in text
    if script == "study":
        assert "jobs = 2" in text and "training runs at a time" in text


def test_field_comments_take_the_block_above_and_the_continuation_lines() -> None:
    docs = field_comments()
    assert docs["TrainConfig"]["batch_size"].endswith("batch_size x group_size passages")
    assert docs["IndexApp"]["output"].startswith("<label> of a checkpoint")
    assert docs["IndexApp"]["embeddings_dir"] == "reused by other types"  # not the block above output
    assert docs["ModelConfig"]["pooling"] == "cls | mean"


def test_render_help_refuses_an_unknown_script() -> None:
    with pytest.raises(ValueError, match="no help"):
        render_help("serve")
    assert "$$" in render_help("train")  # escaped for Hydra's string.Template ($${hydra:runtime.output_dir})


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_train_help_and_cfg_job_from_the_command_line() -> None:
    done = run("scripts/train.py", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("scripts/train.py: Fine-tune")
    assert "run_dir = ${hydra:runtime.output_dir}" in done.stdout
    assert "== Config ==" not in done.stdout  # not Hydra's default dump
    assert "dpr, [minilm]" in done.stdout and "[listnet]" in done.stdout and "[nll]" not in done.stdout
    chosen = run("scripts/train.py", "--help", "loss=nll", "experiment=nfcorpus")
    assert "[nll]" in chosen.stdout and "[nfcorpus]" in chosen.stdout and "[listnet]" not in chosen.stdout
    job = run("scripts/train.py", "--cfg", "job", "loss=lambdaloss", "loss.kwargs.sigma=2.0")
    assert job.returncode == 0, job.stderr
    loss = yaml.safe_load(job.stdout)["loss"]
    from gradedpr.losses import loss_hyperparameters

    expected = {k: v for k, v in loss_hyperparameters("lambdaloss").items() if k != "generator"}
    assert loss == {"name": "lambdaloss", "kwargs": {**expected, "sigma": 2.0}}
    binary = yaml.safe_load(run("scripts/train.py", "--cfg", "job", "loss=graded_infonce_binary").stdout)["loss"]
    assert binary == {"name": "graded_infonce", "kwargs": {"gain": "binary"}}  # the recipe's value wins


def test_every_setting_has_a_description() -> None:
    """Every setting a user can pass says what it is (the help shows it)."""
    missing = []
    for app in (schema.TrainApp, schema.IndexApp, schema.EvaluateApp, schema.ExportApp):
        for key in setting_keys(app):
            *path, name = key.split(".")
            cls: Any = app
            for part in path:
                cls = type(next(f for f in fields(cls) if f.name == part).default_factory())  # type: ignore[misc]
            if not field_comments().get(cls.__name__, {}).get(name):
                missing.append(f"{app.__name__}: {key}")
    assert missing == [], missing
