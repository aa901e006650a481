"""Spaces in paths, tags and ids work or are refused up front (issue 16, item 3).

Before: ``hydra.run.dir='.../my run'`` with a test split trained and then failed with a traceback writing the
test run (its tag is the run directory's name; the test metrics were lost); ``evaluate.py`` of a checkpoint
directory ``my model`` failed the same way after retrieval; ``run_tag='my tag'`` too; a corpus id with a space
trained, and ``evaluate.py`` failed after retrieval. Now names become ``my_run`` in run tags, an explicit
``run_tag`` with whitespace is refused before any work, and ids with whitespace at load time, with file and
line (TREC run files cannot hold them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from reliability_helpers import assert_one_line_error, beir_overrides, run_forked

from gradedpr.data.beir import read_corpus_jsonl, read_queries
from gradedpr.data.runs import read_trec_run
from gradedpr.errors import DataError


def test_a_run_dir_with_a_space_keeps_its_test_metrics(tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "my run"
    result = run_forked("train.py", [*beir_overrides(tiny_beir), f"model.name_or_path={tiny_model_dir}",
                                     f"run_dir={run}", "logger=none", "train.batch_size=2", "train.group_size=2",
                                     "train.max_positives=1", "train.eval_k=10", "train.eval_at_start=false",
                                     "train.max_steps=2", "train.test_split=test"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((run / "test" / "metrics.json").read_text())["mean"]
    assert (run / "test" / "run.trec").read_text().split("\n")[0].endswith(" my_run-best")


def test_a_checkpoint_dir_with_a_space_is_evaluated(tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "my model"
    shutil.copytree(tiny_model_dir, model)
    result = run_forked("evaluate.py", [*beir_overrides(tiny_beir), f"checkpoint={model}",
                                        f"output={tmp_path}/eval"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "eval" / "run.trec").read_text().split("\n")[0].endswith(" my_model")
    assert read_trec_run(tmp_path / "eval" / "run.trec")


def test_a_run_tag_with_a_space_is_refused_before_any_work(tiny_beir: Path, tiny_model_dir: Path,
                                                           tmp_path: Path) -> None:
    result = run_forked("evaluate.py", [*beir_overrides(tiny_beir), f"checkpoint={tiny_model_dir}",
                                        f"output={tmp_path}/eval", "run_tag='my tag'"], tmp_path)
    assert_one_line_error(result, "run_tag='my tag': must be one word without whitespace")
    assert not (tmp_path / "eval").exists()


def test_a_corpus_id_with_a_space_is_refused_at_load_time_with_file_and_line(
        tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = tiny_beir / "corpus.jsonl"
    lines = corpus.read_text().splitlines()
    lines[3] = json.dumps({"_id": "d 3", "text": "a passage"})
    corpus.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"corpus.jsonl:4: field '_id' 'd 3' contains whitespace"):
        read_corpus_jsonl(corpus, tmp_path / "cache-of-this-test")
    result = run_forked("train.py", [*beir_overrides(tiny_beir), f"model.name_or_path={tiny_model_dir}",
                                     "logger=none", "train.batch_size=2"], tmp_path)
    assert_one_line_error(result, f"{corpus}:4: field '_id' 'd 3' contains whitespace")


@pytest.mark.parametrize(("name", "content", "where"), [
    ("queries.jsonl", '{"_id": "q 1", "text": "a question"}\n', "queries.jsonl:1: field '_id' 'q 1'"),
    ("queries.tsv", "id\ttext\nq 1\ta question\n", "queries.tsv:2: query id 'q 1'"),
])
def test_a_query_id_with_a_space_is_refused(name: str, content: str, where: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=where):
        read_queries(path)
