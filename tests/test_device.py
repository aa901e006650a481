"""One device picker (utils/device.py) for every caller, torchrun's LOCAL_RANK included."""

from __future__ import annotations

import pytest
import torch

from gradedpr.utils import device


def test_named_devices_are_taken_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert device.pick_device("cpu") == torch.device("cpu")
    assert device.pick_device("cuda:1") == torch.device("cuda", 1)
    assert device.pick_device("meta") == torch.device("meta")


def test_auto_is_cpu_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert device.pick_device() == torch.device("cpu")
    assert device.pick_device("auto") == torch.device("cpu")


def test_auto_is_the_local_rank_gpu_with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert device.pick_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert device.pick_device("auto") == torch.device("cuda", 2)


def test_one_device_picker_in_the_package() -> None:
    """No module of the package defines a device picker of its own (or an alias of pick_device)."""
    import pathlib
    import re

    import gradedpr

    root = pathlib.Path(gradedpr.__file__).parent
    picker = re.compile(r"^(def (?!check_)\w*device\(|\w+ = pick_device$)", re.MULTILINE)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "device.py" and picker.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
