"""The registry: names, keyword checking, config files matching the signatures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from gradedpr.losses import LOSSES, available_losses, get_loss, loss_hyperparameters, register_loss

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "loss"


def test_available_losses_sorted_and_registered() -> None:
    names = available_losses()
    assert names == sorted(names)
    assert {"nll", "listnet"} <= set(names)
    assert set(names) == set(LOSSES)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown loss 'nope'.*listnet.*nll"):
        get_loss("nope")


def test_unknown_kwarg_lists_valid_kwargs() -> None:
    pattern = r"unknown hyperparameter\(s\) \['temprature'\].*valid: gain, target"
    with pytest.raises(ValueError, match=pattern):
        get_loss("listnet", temprature=1.0)


def test_bad_value_fails_when_built() -> None:
    with pytest.raises(ValueError, match="gain must be one of"):
        get_loss("listnet", gain="cubic")
    with pytest.raises(ValueError, match="positive must be one of"):
        get_loss("nll", positive="last")


def test_get_loss_binds_kwargs() -> None:
    loss = get_loss("listnet", gain="linear")
    scores = torch.tensor([[0.3, 0.1, -0.2]])
    labels = torch.tensor([[2, 0, 1]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    direct = LOSSES["listnet"](scores, labels, mask, gain="linear")
    assert torch.equal(loss(scores, labels, mask), direct)


def test_building_a_loss_consumes_no_randomness() -> None:
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    for name in available_losses():
        get_loss(name)
    assert torch.equal(torch.rand(3), expected)


def test_duplicate_registration_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register_loss("nll")
        def other(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return scores.sum()


def test_signature_must_start_with_scores_labels_mask() -> None:
    with pytest.raises(ValueError, match="must take"):

        @register_loss("bad_signature_loss")
        def bad(labels: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return scores.sum()

    assert "bad_signature_loss" not in LOSSES


def _read_simple_yaml(path: Path) -> tuple[str, dict[str, object]]:
    """Read the two-level ``name:`` / ``kwargs:`` files without a YAML dependency in the test."""
    import yaml  # PyYAML comes with hydra-core / omegaconf

    data = yaml.safe_load(path.read_text())
    return data["name"], dict(data.get("kwargs") or {})


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_has_a_config_with_its_defaults(name: str) -> None:
    path = CONFIG_DIR / f"{name}.yaml"
    assert path.is_file(), f"missing {path}"
    cfg_name, kwargs = _read_simple_yaml(path)
    assert cfg_name == name
    defaults = loss_hyperparameters(name)
    assert set(kwargs) <= set(defaults)
    for key, value in kwargs.items():
        assert defaults[key] == value, f"{path}: {key}={value!r} but the default is {defaults[key]!r}"
    get_loss(cfg_name, **kwargs)


def test_config_files_name_registered_losses() -> None:
    for path in CONFIG_DIR.glob("*.yaml"):
        cfg_name, _ = _read_simple_yaml(path)
        assert cfg_name in LOSSES, path


def test_every_module_of_the_package_is_imported() -> None:
    """A new loss file registers itself: losses/__init__.py imports every module of the package."""
    package = CONFIG_DIR.parents[1] / "src" / "gradedpr" / "losses"
    modules = {path.stem for path in package.glob("*.py")} - {"__init__"}
    assert {f"gradedpr.losses.{name}" for name in modules} <= set(sys.modules)
    assert {fn.__module__ for fn in LOSSES.values()} <= {f"gradedpr.losses.{name}" for name in modules}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_has_a_section_in_the_docs(name: str) -> None:
    docs = (CONFIG_DIR.parents[1] / "docs" / "losses.md").read_text(encoding="utf-8")
    assert f"\n## {name} — " in docs, f"docs/losses.md needs a '## {name} — <title>' section"
