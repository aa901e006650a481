"""sentence-transformers' own fine-tuning of the start model, as a study row (issue 18: the tool users would
pick instead): ``python scripts/st_baseline.py data=nfcorpus loss=mnrl|cached_mnrl seed=1 run_dir=<dir>
[budget_minutes=10] [batch_size=64] [lr=5e-5] [warmup_steps=10] [max_steps=100000]``.

Trains with ``SentenceTransformerTrainer`` on every (training query, relevant document) pair until the
wall-clock budget, then writes the run in a blind study's layout (``src/gradedpr/study/st_baseline.py``):
dev values now, test only when the study scores test. Needs sentence-transformers (``pip install -e .[bench]``).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import inspect
import logging
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gradedpr.commands.cli import run_cli
from gradedpr.config.store import register_configs
from gradedpr.data.from_config import collection_from_config
from gradedpr.errors import ConfigError
from gradedpr.study.st_baseline import ST_LOSSES, run_st_baseline

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
IGNORED = ("hydra.", "logger=", "show_progress=")  # study-runner settings that mean nothing here


def parse(argv: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for token in argv:
        if token.startswith(IGNORED):
            continue
        key, sep, value = token.partition("=")
        if not sep:
            raise ConfigError(f"{token!r}: expected key=value")
        values[key] = value
    return values


def settings(values: dict[str, str]) -> dict[str, object]:
    """The keyword settings of ``run_st_baseline`` given on the command line, converted to their defaults'
    types; unknown or missing settings and values of the wrong type are one-line errors."""
    tunable = {name: p.default for name, p in inspect.signature(run_st_baseline).parameters.items()
               if p.kind is p.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}
    unknown = set(values) - {"data", "loss", "seed", "run_dir", *tunable}
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))}; known: data, loss, seed, run_dir, "
                          f"{', '.join(tunable)}")
    for key in ("data", "loss", "run_dir"):
        if key not in values:
            raise ConfigError(f"{key}=... is required")
    if values["loss"] not in ST_LOSSES:
        raise ConfigError(f"loss={values['loss']}: must be one of {', '.join(ST_LOSSES)}")
    if not values.get("seed", "0").isdigit():
        raise ConfigError(f"seed={values['seed']}: expected a non-negative integer")
    kwargs: dict[str, object] = {}
    for key, value in values.items():
        if key in tunable and tunable[key] is not None:
            try:
                kwargs[key] = type(tunable[key])(value)
            except ValueError:
                raise ConfigError(f"{key}={value}: expected a {type(tunable[key]).__name__}") from None
        elif key in tunable:
            kwargs[key] = value
    return kwargs


def main() -> None:
    values = parse(sys.argv[1:])
    kwargs = settings(values)
    register_configs()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"data={values['data']}"])
    data = OmegaConf.to_container(cfg.data, resolve=True)
    assert isinstance(data, dict)
    collection = collection_from_config(data, splits=["train", "dev"])
    run_st_baseline(data, collection, Path(values["run_dir"]), loss=values["loss"],
                    seed=int(values.get("seed", 0)), **kwargs)  # type: ignore[arg-type]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run_cli(main)
