"""Per-grade results (recall@k, share found, mean rank of each grade's documents) against a brute-force count,
and ``scripts/evaluate.py per_grade=true`` on a run file and on a checkpoint."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from gradedpr.commands.evaluate import run_evaluate
from gradedpr.errors import ConfigError
from gradedpr.evaluation.per_grade import format_per_grade, per_grade
from test_scripts_compare import collection_dir, config, data_overrides, run_files  # noqa: F401  (fixtures)


def brute_force(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], k: int, grade: int
                ) -> tuple[float, float, float | None]:
    """recall@k (mean over queries with the grade), share found, mean rank: each rank counted one by one."""
    recalls, ranks, total = [], [], 0
    for qid, judged in qrels.items():
        docs = [d for d, g in judged.items() if g == grade]
        if not docs:
            continue
        scores = run.get(qid, {})
        total += len(docs)
        in_top = 0
        for doc in docs:
            if doc not in scores:
                continue
            mine = float(np.float32(scores[doc]))
            # trec_eval order: float32 score descending, ties by docid descending
            rank = 1 + sum(1 for other, s in scores.items()
                           if (float(np.float32(s)), other) > (mine, doc))
            ranks.append(rank)
            in_top += rank <= k
        recalls.append(in_top / len(docs))
    return sum(recalls) / len(recalls), len(ranks) / total, (sum(ranks) / len(ranks) if ranks else None)


@pytest.mark.parametrize("seed", range(5))
def test_per_grade_matches_a_brute_force_count(seed: int) -> None:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(40)]
    qrels = {f"q{q}": {d: rng.choice([0, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 8))} for q in range(12)}
    run = {}
    for qid in list(qrels)[:-1]:  # the last query is missing from the run
        retrieved = rng.sample(docs, rng.randint(5, 30))
        run[qid] = {d: float(rng.choice([0.5, 1.0, rng.random()])) for d in retrieved}  # ties included
    results = per_grade(run, qrels, cutoffs=(3, 10))
    grades = sorted({g for judged in qrels.values() for g in judged.values()}, reverse=True)
    assert [r.grade for r in results] == grades
    for r in results:
        for k in (3, 10):
            recall, found, mean_rank = brute_force(run, qrels, k, r.grade)
            assert r.recall[k] == pytest.approx(recall)
        assert r.found == pytest.approx(found)
        assert (r.mean_rank is None and mean_rank is None) or r.mean_rank == pytest.approx(mean_rank)
        assert r.queries == sum(1 for judged in qrels.values() if r.grade in judged.values())
    text = format_per_grade(results)
    assert [cell.strip() for cell in text.splitlines()[0].split("|")[1:-1]] == [
        "grade", "queries", "documents", "recall@3", "recall@10", "found", "mean rank"]
    assert len(text.splitlines()) == 2 + len(results)


def test_a_perfect_run_puts_the_top_grade_first() -> None:
    qrels = {"q": {"a": 2, "b": 1, "c": 1, "z": 0}}
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0, "x": 0.5, "z": 0.1}}
    top, middle, zero = per_grade(run, qrels, cutoffs=(1, 2))
    assert (top.grade, top.recall, top.mean_rank) == (2, {1: 1.0, 2: 1.0}, 1.0)
    assert (middle.grade, middle.recall, middle.mean_rank) == (1, {1: 0.0, 2: 0.5}, 2.5)
    assert (zero.grade, zero.mean_rank, zero.found) == (0, 5.0, 1.0)


def test_evaluate_run_file_per_grade(collection_dir: Path, run_files: dict[str, Path], tmp_path: Path,  # noqa: F811
                                     capsys: pytest.CaptureFixture[str]) -> None:
    run_evaluate(config([*data_overrides(collection_dir), f"run={run_files['good']}", f"output={tmp_path}/s",
                         "per_grade=true", "per_grade_cutoffs=[1,3]"]))
    printed = capsys.readouterr().out
    assert "per grade" in printed and "recall@1" in printed
    rows = json.loads((tmp_path / "s" / "metrics.json").read_text())["extra"]["per_grade"]
    assert [r["grade"] for r in rows] == [2, 1]  # the qrels of the fixture hold grades 2 and 1
    assert rows[0]["queries"] == 6 and rows[1]["documents"] == 12 and set(rows[0]) >= {"recall@1", "recall@3"}
    # without per_grade nothing changes
    run_evaluate(config([*data_overrides(collection_dir), f"run={run_files['good']}", f"output={tmp_path}/n"]))
    assert "per_grade" not in json.loads((tmp_path / "n" / "metrics.json").read_text())["extra"]
    assert "per grade" not in capsys.readouterr().out


def test_evaluate_checkpoint_per_grade(collection_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    run_evaluate(config([*data_overrides(collection_dir), f"checkpoint={tiny_model_dir}", "split=test", "k=100",
                         f"output={tmp_path}/c", "per_grade=true", "device=cpu"]))
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    from gradedpr.data.runs import read_trec_run
    from test_scripts_compare import _qrels

    expected = per_grade(read_trec_run(tmp_path / "c" / "run.trec"), _qrels())
    assert metrics["extra"]["per_grade"] == [r.to_dict() for r in expected]


def test_per_grade_cutoffs_are_checked(collection_dir: Path, run_files: dict[str, Path]) -> None:  # noqa: F811
    from gradedpr.commands.checks import evaluate_app

    with pytest.raises(ConfigError, match="per_grade_cutoffs"):
        evaluate_app(config([*data_overrides(collection_dir), f"run={run_files['good']}", "per_grade_cutoffs=[0]"]))
