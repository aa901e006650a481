"""The schema is the one source of every default (issue 8, item 4): the YAML files hold only recipes, the
composed configs equal the dataclass defaults where no recipe says otherwise, unknown keys are errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from gradedpr.commands.checks import to_app, to_yaml
from gradedpr.commands.common import register_resolvers
from gradedpr.config.schema import (
    DATA_FORMATS,
    FAISS_SCHEMAS,
    DataConfig,
    EvaluateApp,
    ExportApp,
    IndexApp,
    ModelConfig,
    TrainApp,
    TrainConfig,
    faiss_defaults,
)
from gradedpr.config.store import register_configs
from gradedpr.data.collection import FORMATS
from gradedpr.errors import ConfigError
from gradedpr.evaluation.measures import DEFAULT_MEASURES
from gradedpr.index.faiss_build import _DEFAULTS, IndexSpec
from gradedpr.model.config import BiEncoderConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# What the default recipe (train.yaml's defaults list: model=minilm, train=default, experiment=builtin) sets on
# top of the schema: nothing else may differ from a dataclass default.
DEFAULT_RECIPE = {"model.passage_max_length": 64, "data.name": "builtin", "data.path": "data/builtin",
                  "data.builtin": True, "loss.name": "listnet", "logger.name": "wandb"}


def composed(name: str, *overrides: str) -> Any:
    GlobalHydra.instance().clear()
    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def flat(values: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def schema_defaults(schema: type[Any]) -> dict[str, Any]:
    values = OmegaConf.to_container(OmegaConf.structured(schema), resolve=False)
    assert isinstance(values, dict)
    return flat(values)


def test_make_train_uses_the_schema_defaults_except_its_recipe() -> None:
    cfg = OmegaConf.to_container(composed("train"), resolve=False)
    got = flat(cfg)  # type: ignore[arg-type]
    want = {**schema_defaults(TrainApp), **DEFAULT_RECIPE}
    assert got == want


@pytest.mark.parametrize(("name", "schema", "overrides", "recipe"), [
    ("index", IndexApp, ["faiss=hnsw"], {"faiss.type": "hnsw"}),
    ("evaluate", EvaluateApp, [], {}),
    ("export", ExportApp, [], {}),
])
def test_other_commands_use_the_schema_defaults(name: str, schema: type[Any], overrides: list[str],
                                                recipe: dict[str, Any]) -> None:
    got = flat(OmegaConf.to_container(composed(name, *overrides), resolve=False))  # type: ignore[arg-type]
    want = schema_defaults(schema)
    data = {k: v for k, v in got.items() if k.startswith("data.")}
    faiss = {k: v for k, v in got.items() if k.startswith("faiss.")}
    assert {k: v for k, v in got.items() if k not in data and k not in faiss} == {
        k: v for k, v in want.items() if not k.startswith(("data", "faiss"))}
    if faiss:
        kind = faiss["faiss.type"]
        assert faiss == {"faiss.type": kind, **{f"faiss.{k}": v for k, v in faiss_defaults(kind).items()}, **recipe}


def test_group_files_hold_only_values_that_differ_from_the_schema() -> None:
    schemas = {"model": ModelConfig, "train": TrainConfig, "data": DataConfig}
    for group, schema in schemas.items():
        defaults = schema_defaults(schema)
        for path in sorted((CONFIGS / group).glob("*.yaml")):
            values = yaml.safe_load(path.read_text()) or {}
            values.pop("defaults", None)
            for key, value in flat(values).items():
                assert defaults.get(key, object()) != value, f"{path}: {key}: {value!r} restates the schema default"
    for path in sorted((CONFIGS / "faiss").glob("*.yaml")):
        values = yaml.safe_load(path.read_text()) or {}
        values.pop("defaults", None)
        for key, value in values.items():
            assert faiss_defaults(path.stem).get(key, object()) != value, f"{path}: {key} restates the default"
    for path in [CONFIGS / "train.yaml", CONFIGS / "index.yaml", CONFIGS / "evaluate.yaml", CONFIGS / "export.yaml"]:
        assert set(yaml.safe_load(path.read_text())) == {"defaults", "hydra"}, path


def test_the_library_takes_its_defaults_from_the_schema() -> None:
    assert BiEncoderConfig().to_dict() == {k: v for k, v in dataclasses.asdict(ModelConfig()).items()
                                           if k not in ("name_or_path", "gradient_checkpointing")}
    assert {kind: faiss_defaults(kind) for kind in FAISS_SCHEMAS} == _DEFAULTS
    assert IndexSpec("hnsw").params == {"M": 32, "ef_construction": 200, "ef_search": 128}
    assert tuple(EvaluateApp().measures) == DEFAULT_MEASURES
    assert tuple(FORMATS) == DATA_FORMATS  # the schema lists the registered collection formats


@pytest.mark.parametrize("override", ["train.batchsize=8", "model.pool=cls", "data.corpus=x", "logger.key=1",
                                      "seed=abc", "train.lr=fast"])
def test_unknown_keys_and_wrong_types_are_refused_by_hydra(override: str) -> None:
    with pytest.raises(ConfigCompositionException):
        composed("train", override)


def test_an_unknown_key_in_a_plain_config_is_a_config_error_naming_it() -> None:
    values = OmegaConf.to_container(composed("train"), resolve=False)
    assert isinstance(values, dict)
    values["train"]["batchsize"] = 8
    values["run_dir"] = "/tmp/x"
    with pytest.raises(ConfigError, match=r"^train\.batchsize: Key 'batchsize' not in 'TrainConfig'"):
        to_app(OmegaConf.create(values), TrainApp)


def test_experiments_and_overrides_keep_working() -> None:
    cfg = composed("train", "experiment=nfcorpus", "loss=nll", "train.max_steps=200")
    assert (cfg.train.regime, cfg.train.max_steps, cfg.loss.name, cfg.data.name) == ("frozen", 200, "nll", "nfcorpus")
    full = composed("train", "experiment=nfcorpus_full")
    assert (full.train.group_size, full.train.negatives_depth, full.model.shared) == (4, 100, True)
    assert composed("train", "train=nfcorpus").train.max_steps == 200  # was overridden by experiment=builtin
    assert composed("train", "loss.kwargs.k=10", "loss=approx_ndcg").loss.kwargs == {"k": 10}  # an open dict
    index = composed("index", "faiss=hnsw", "faiss.M=16", "checkpoint=some/dir/best")
    assert (index.faiss.M, index.output) == (16, "outputs/index/builtin-best-hnsw")
    evaluate = composed("evaluate", "index=outputs/index/x", "split=dev", "runs=[a,b]", "baseline=a", "qrels=")
    assert (evaluate.index, evaluate.runs, evaluate.baseline) == ("outputs/index/x", ["a", "b"], "a")
    assert evaluate.qrels == ""


def test_the_recorded_config_holds_every_resolved_value(tmp_path: Path) -> None:
    from gradedpr.commands.checks import check_loss

    cfg = composed("train", "loss=approx_ndcg", f"run_dir={tmp_path}")
    app = to_app(cfg, TrainApp)
    check_loss(app)
    recorded = yaml.safe_load(to_yaml(app))
    assert recorded["loss"]["kwargs"] == {"temperature": 1.0, "gain": "exp2", "k": None, "cutoff_temperature": 0.5}
    assert flat(recorded).keys() >= {k for k in schema_defaults(TrainApp) if not k.startswith("loss.kwargs")}
    assert recorded["run_dir"] == str(tmp_path)
    assert to_app(OmegaConf.create(recorded), TrainApp) == app  # a recorded config is a valid config


def test_python_api_settings_are_validated_too() -> None:
    with pytest.raises(ConfigError, match=r"train\.warmup_ratio=2: must be in \[0, 1\]"):
        TrainConfig(warmup_ratio=2)
    with pytest.raises(ConfigError, match=r"faiss\.M=1"):
        IndexSpec.from_config({"type": "hnsw", "M": 1})  # FAISS would abort the process
    with pytest.raises(ConfigError, match=r"faiss\.efSearch: not a parameter of a hnsw index"):
        to_app(OmegaConf.create({"faiss": {"type": "hnsw", "efSearch": 1}, "data": {"name": "x", "path": "y"}}),
               IndexApp)
