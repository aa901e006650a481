"""scripts/time_to_quality.py: blind study rows as points (minutes, test mean) and one PNG."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from gradedpr.study.plots import time_to_quality_points

ROOT = Path(__file__).resolve().parents[2]


def summary(rows: list[dict]) -> dict:
    return {"measure": "ndcg@10", "rows": rows}


def row(regime: str, loss: str, split: str, mean: float, minutes: list[float], variant: str = "all") -> dict:
    return {"regime": regime, "loss": loss, "split": split, "variant": variant, "mean": mean, "std": 0.01,
            "per_seed": [mean] * len(minutes), "minutes": minutes, "zeroshot": 0.3159}


def test_points_take_the_split_and_variant_asked_and_the_zero_shot_once() -> None:
    three_level = row("grades_3level", "graded_infonce", "test", 0.364, [7.0])
    three_level["zeroshot"] = 0.3179  # scored on other judgments: not on the same axis
    a = summary([row("all", "graded_infonce", "test", 0.355, [7.0, 32.1, 6.8]), three_level,
                 row("all", "graded_infonce", "dev", 0.347, [7.0, 6.8, 7.2]),
                 row("unseen", "graded_infonce", "test", 0.13, [7.0], variant="unseen")])
    b = summary([row("st_10min", "mnrl", "test", 0.33, [12.5])])
    points = time_to_quality_points([("generalize", a), ("tools", b)])
    assert [(p["label"], p["minutes"], p["mean"]) for p in points] == [
        ("zero-shot start model", 0.0, 0.3159), ("generalize: all/graded_infonce", 7.0, 0.355),
        ("tools: st_10min/mnrl", 12.5, 0.33)]
    assert [p["key"] for p in points] == [1, 2, 3]


def test_points_are_numbered_in_order_of_minutes_then_best_first() -> None:
    rows = [row("slow", "a", "test", 0.36, [30.0]), row("fast", "b", "test", 0.34, [7.0]),
            row("fast", "c", "test", 0.35, [7.0])]
    points = time_to_quality_points([("s", summary(rows))])
    assert [(p["key"], p["label"]) for p in points] == [
        (1, "zero-shot start model"), (2, "s: fast/c"), (3, "s: fast/b"), (4, "s: slow/a")]


def load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("time_to_quality", ROOT / "scripts" / "time_to_quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_the_png_and_its_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, rows in (("generalize", [row("all", "nll_all", "test", 0.343, [7.1])]),
                       ("tools", [row("st_5min", "cached_mnrl", "test", 0.32, [6.0])])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary(rows)))
    out = tmp_path / "ttq.png"
    script = load_script()
    assert script.main(["--studies", "generalize", "tools", "--docs", str(tmp_path), "--output", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads(out.with_suffix(".json").read_text())) == 3
    printed = capsys.readouterr().out
    assert "  3    7.1 min  0.3430  generalize: all/nll_all" in printed  # numbered as in the plot's key
    # a study never run, or one whose test was not scored yet: one line, exit 2
    assert script.main(["--studies", "missing", "--docs", str(tmp_path), "--output", str(out)]) == 2
    assert "no such study summary" in capsys.readouterr().err
    (tmp_path / "dev_only").mkdir()
    (tmp_path / "dev_only" / "summary.json").write_text(json.dumps(summary([row("a", "b", "dev", 0.3, [1.0])])))
    assert script.main(["--studies", "dev_only", "--docs", str(tmp_path), "--output", str(out)]) == 2
