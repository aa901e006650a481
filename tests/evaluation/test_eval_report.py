"""Reports: Markdown table with 4 decimals; atomic JSON with mean, per-query values and metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradedpr.evaluation import evaluate_run, format_table, write_metrics_json

RUN = {"q1": {"a": 1.0, "b": 0.5}, "q2": {"c": 1.0, "a": 0.2}}
QRELS = {"q1": {"a": 1, "b": 2}, "q2": {"a": 1}, "q3": {"z": 1}}


def test_table_for_several_runs() -> None:
    first = evaluate_run(RUN, QRELS, ["ndcg@1", "map"])
    second = evaluate_run({"q1": {"b": 1.0}}, QRELS, ["ndcg@1", "map"])
    table = format_table({"bm25": first, "dense": second})
    lines = table.splitlines()
    assert len(lines) == 4
    assert [cell.strip() for cell in lines[0].strip("|").split("|")] == ["run", "ndcg@1", "map", "queries"]
    assert set(lines[1]) <= set("|-:")
    bm25 = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert bm25[0] == "bm25"
    assert bm25[1] == f"{first.mean['ndcg@1']:.4f}"
    assert bm25[2] == f"{first.mean['map']:.4f}"
    assert bm25[3] == "3 (qrels)"
    assert lines[3].split("|")[1].strip() == "dense"
    assert len({len(line) for line in lines}) == 1  # aligned columns


def test_table_for_one_result_with_chosen_and_missing_measures() -> None:
    result = evaluate_run(RUN, QRELS, ["ndcg@1", "map"], mean_over="both")
    table = format_table(result, ["map", "recall@10"])
    row = [cell.strip() for cell in table.splitlines()[2].strip("|").split("|")]
    assert row == ["run", f"{result.mean['map']:.4f}", "-", "2 (both)"]
    with pytest.raises(ValueError):
        format_table({})


def test_metrics_json_holds_everything_and_is_atomic(tmp_path: Path) -> None:
    result = evaluate_run(RUN, QRELS, ["ndcg@10", "mrr@10"])
    path = tmp_path / "out" / "metrics.json"
    write_metrics_json(path, result, {"run": "bm25", "split": "test"})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["mean"] == result.mean
    assert data["per_query"] == result.per_query
    assert data["num_queries"] == 3
    assert data["mean_over"] == "qrels"
    assert data["measures"] == ["ndcg@10", "mrr@10"]
    assert data["extra"] == {"run": "bm25", "split": "test"}
    old = path.read_bytes()
    with pytest.raises(TypeError):
        write_metrics_json(path, result, {"bad": object()})
    assert path.read_bytes() == old
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]
