"""scripts/evaluate.py on existing run files: run= scores one, runs= compares several; bad input exits 2."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize
from omegaconf import DictConfig

from gradedpr.commands import evaluate as commands
from gradedpr.commands.cli import run_cli
from gradedpr.commands.compare import run_compare
from gradedpr.commands.evaluate import run_evaluate
from gradedpr.config.store import register_configs
from gradedpr.evaluation import evaluate_run, read_trec_run, write_trec_run
from tiny_beir import write_beir

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["apple", "river", "mountain", "guitar", "bread", "winter"]


@pytest.fixture
def collection_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """36 documents on 6 topics, 6 test queries with graded judgments, in BEIR layout."""
    monkeypatch.setenv("GRADEDPR_CACHE_DIR", str(tmp_path / "cache"))
    docs = [{"_id": f"d{t}-{j}", "title": topic, "text": f"{topic} number {j}"}
            for t, topic in enumerate(TOPICS) for j in range(6)]
    queries = {f"q{t}": topic for t, topic in enumerate(TOPICS)}
    judged = [(qid, docid, grade) for qid, graded in _qrels().items() for docid, grade in graded.items()]
    return write_beir(tmp_path / "tiny", docs, queries, {"test": judged})


def _qrels() -> dict[str, dict[str, int]]:
    return {f"q{t}": {f"d{t}-{j}": (2 if j == 0 else 1) for j in range(3)} for t in range(len(TOPICS))}


def _write_run(path: Path, noise: float, seed: int, skip: tuple[str, ...] = ()) -> Path:
    rng = random.Random(seed)
    qrels = _qrels()
    run = {
        qid: {f"d{t}-{j}": qrels[qid].get(f"d{t}-{j}", 0) + rng.gauss(0, noise) for t in range(6) for j in range(6)}
        for qid in qrels if qid not in skip
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_trec_run(path, run, tag=path.stem)
    return path


@pytest.fixture
def run_files(tmp_path: Path) -> dict[str, Path]:
    return {
        "good": _write_run(tmp_path / "runs" / "good.trec", 0.5, 1),
        "noisy": _write_run(tmp_path / "runs" / "noisy.trec", 3.0, 2),
        "partial": _write_run(tmp_path / "runs" / "partial.trec", 0.5, 3, skip=("q4", "q5")),
    }


def config(overrides: list[str]) -> DictConfig:
    register_configs()
    with initialize(version_base="1.3", config_path="../configs"):
        return compose(config_name="evaluate", overrides=overrides)


def data_overrides(root: Path) -> list[str]:
    return [f"data.path={root}", "data.name=tiny", "data.builtin=false", "show_progress=false"]


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(commands, "load_model", refuse)


def test_score_a_run_file_without_a_model(collection_dir: Path, run_files: dict[str, Path], tmp_path: Path,
                                          no_model: None, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config([*data_overrides(collection_dir), f"run={run_files['partial']}", f"output={tmp_path}/score"])
    result = run_evaluate(cfg)
    expected = evaluate_run(read_trec_run(run_files["partial"]), _qrels(), list(cfg.measures))
    assert result.mean == expected.mean and result.num_queries == 6  # q4, q5 count 0 (trec_eval -c)
    printed = capsys.readouterr().out
    assert f"| partial | {expected.mean['ndcg@1']:.4f}" in printed and "6 (qrels)" in printed
    metrics = json.loads((tmp_path / "score" / "metrics.json").read_text())
    assert metrics["mean"] == expected.mean
    assert metrics["extra"]["run_file"]["qrels_queries_not_in_run"] == 2
    assert metrics["extra"]["data"] == "tiny" and metrics["extra"]["split"] == "test"


def test_compare_runs(collection_dir: Path, run_files: dict[str, Path], tmp_path: Path, no_model: None,
                      capsys: pytest.CaptureFixture[str]) -> None:
    listed = ",".join(str(p) for p in run_files.values())
    out = tmp_path / "cmp"
    cfg = config([*data_overrides(collection_dir), f"runs=[{listed}]", f"baseline={run_files['noisy']}",
                  "measures=[ndcg@10,map]", "n_permutations=999", f"output={out}"])
    comparison = run_compare(cfg)
    assert comparison.baseline == "noisy" and comparison.runs == ("noisy", "good", "partial")
    printed = capsys.readouterr().out
    assert "**ndcg@10**" in printed and "**map**" in printed and "| noisy (baseline) |" in printed
    assert "p (perm)" in printed and "W/T/L" in printed and "6 queries (trec_eval -c" in printed
    data = json.loads((out / "compare.json").read_text())
    assert (out / "compare.md").read_text() in printed
    assert data["n_permutations"] == 999 and data["num_queries"] == 6
    rows = {row["run"]: row for row in data["results"]["ndcg@10"]}
    means = {name: evaluate_run(read_trec_run(path), _qrels(), ["ndcg@10"]).mean["ndcg@10"]
             for name, path in run_files.items()}
    assert {name: row["mean"] for name, row in rows.items()} == pytest.approx(means)
    assert rows["partial"]["losses"] >= 2  # the two queries it lacks score 0
    assert data["extra"]["run_files"]["partial"]["qrels_queries_not_in_run"] == 2

    # names: explicit (mapping or 'name=path'), and stems made distinct with their parent directories
    named = run_compare(config([*data_overrides(collection_dir), "n_permutations=99", f"output={out}2",
                                f"runs={{a:{run_files['good']},b:{run_files['noisy']}}}", "baseline=b"]))
    assert named.runs == ("b", "a")
    pairs = run_compare(config([*data_overrides(collection_dir), "n_permutations=99", f"output={out}3",
                                f"runs=['x={run_files['good']}','y={run_files['noisy']}']"]))
    assert pairs.runs == ("x", "y")
    same_stem = [_write_run(tmp_path / d / "run.trec", 1.0, i) for i, d in enumerate(["one", "two"])]
    stems = run_compare(config([*data_overrides(collection_dir), "n_permutations=99", f"output={out}4",
                                f"runs=[{same_stem[0]},{same_stem[1]}]", "baseline=two/run"]))
    assert stems.runs == ("two/run", "one/run")


@pytest.mark.parametrize("fmt", ["trec", "beir"])
def test_qrels_file_instead_of_data(run_files: dict[str, Path], tmp_path: Path, no_model: None,
                                    fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    qrels_path = tmp_path / f"qrels.{fmt}"
    rows = [(q, d, g) for q, docs in _qrels().items() for d, g in docs.items()]
    if fmt == "trec":
        qrels_path.write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in rows))
    else:
        qrels_path.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows))
    result = run_evaluate(config([f"run={run_files['good']}", f"qrels={qrels_path}", f"output={tmp_path}/s"]))
    assert result.mean == evaluate_run(read_trec_run(run_files["good"]), _qrels(), result.measures).mean
    comparison = run_compare(config([f"runs=[{run_files['good']},{run_files['noisy']}]", f"qrels={qrels_path}",
                                     "n_permutations=99", f"output={tmp_path}/c", "measures=[ndcg@10]"]))
    assert comparison.num_queries == 6


def test_queries_unknown_to_the_qrels_are_counted_and_ignored(collection_dir: Path, run_files: dict[str, Path],
                                                              tmp_path: Path, no_model: None,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "extra.trec"
    path.write_text(run_files["good"].read_text() + "q-dev Q0 d0-0 1 5 t\nq-dev2 Q0 d0-1 1 5 t\n")
    result = run_evaluate(config([*data_overrides(collection_dir), f"run={path}", f"output={tmp_path}/s"]))
    assert result.mean == evaluate_run(read_trec_run(run_files["good"]), _qrels(), result.measures).mean
    err = capsys.readouterr().err
    assert f"warning: {path}: 2 of 8 queries are not in the qrels and are ignored" in err
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["extra"]["run_file"][
        "queries_not_in_qrels"] == 2


def _bad_file(tmp_path: Path, good: Path, name: str, extra: str) -> Path:
    path = tmp_path / name
    path.write_text(good.read_text() + extra, encoding="utf-8")
    return path


ARABIC_LINE = "q3 Q0 dx 99 \u0661\u066b\u0665 t"  # Arabic-Indic 1.5, which Python's float() accepts

BAD_CASES = [
    # (overrides builder, message fragment)
    ("unknown document", lambda r, t: [f"run={_bad_file(t, r['good'], 'u.trec', 'q0 Q0 nowhere 99 -1 t')}"],
     "u.trec:217: document 'nowhere' (query 'q0') is not in the corpus"),
    ("duplicate line", lambda r, t: [f"run={_bad_file(t, r['good'], 'd.trec', 'q3 Q0 d0-0 99 -1 t')}"],
     "d.trec:217: duplicate document 'd0-0' for query 'q3'"),
    ("arabic digits", lambda r, t: [f"run={_bad_file(t, r['good'], 'a.trec', ARABIC_LINE)}"],
     "a.trec:217: score '\u0661\u066b\u0665' is not a number written in ASCII digits"),
    ("no query in the qrels", lambda r, t: [f"runs=[{r['good']},{_bad_file(t, r['good'], 'n.trec', '')}]",
                                            f"qrels={_qrels_file(t, 'q-x', 'q-y')}"],
     "good.trec: none of the run's 6 queries is in the qrels (e.g. 'q0'): check the split and the query ids"),
    ("one query", lambda r, t: [f"runs=[{r['good']},{r['noisy']}]", f"qrels={_qrels_file(t, 'q0')}"],
     "the qrels hold 1 query, so the runs have 1 query in common; paired tests need at least 2"),
    ("bad baseline", lambda r, t: [f"runs=[{r['good']},{r['noisy']}]", "baseline=bm25"],
     "baseline 'bm25' is not among the runs (good, noisy)"),
    ("one run", lambda r, t: [f"runs=[{r['good']}]"], "runs= needs at least two run files to compare, got 1"),
    ("run and runs", lambda r, t: [f"runs=[{r['good']},{r['noisy']}]", f"run={r['good']}"], "either run="),
    ("mean_over both", lambda r, t: [f"runs=[{r['good']},{r['noisy']}]", "mean_over=both"], "mean_over=qrels"),
    ("missing file", lambda r, t: [f"runs=[{r['good']},{t}/missing.trec]"], "missing.trec: cannot open"),
    ("bad measure", lambda r, t: [f"runs=[{r['good']},{r['noisy']}]", "measures=[ndcg@x]"], "unknown measure"),
    ("bad permutations", lambda r, t: [f"runs=[{r['good']},{r['noisy']}]", "n_permutations=0"],
     "n_permutations=0: must be an integer >= 1"),
    ("same name", lambda r, t: [f"runs=['a={r['good']}','a={r['noisy']}']"], "two runs are named 'a'"),
]


def _qrels_file(tmp_path: Path, *qids: str) -> Path:
    path = tmp_path / f"qrels-{'-'.join(qids)}.txt"
    path.write_text("".join(f"{qid} 0 d0-0 2\n" for qid in qids))
    return path


@pytest.mark.parametrize(("case", "overrides", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_one_line_and_status_2(collection_dir: Path, run_files: dict[str, Path], tmp_path: Path,
                                            no_model: None, capsys: pytest.CaptureFixture[str], case: str,
                                            overrides: Any, message: str) -> None:
    cfg = config([*data_overrides(collection_dir), f"output={tmp_path}/out", *overrides(run_files, tmp_path)])
    with pytest.raises(SystemExit) as caught:
        run_cli(lambda: run_compare(cfg) if cfg.get("runs") else run_evaluate(cfg))
    assert caught.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert not (tmp_path / "out").exists()


def _script(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "scripts/evaluate.py", *args, f"hydra.run.dir={tmp_path}/hydra"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_script_scores_and_compares_run_files(collection_dir: Path, run_files: dict[str, Path],
                                              tmp_path: Path) -> None:
    data = data_overrides(collection_dir)
    scored = _script([*data, f"run={run_files['good']}", f"output={tmp_path}/score"], tmp_path)
    assert scored.returncode == 0, scored.stderr
    expected = evaluate_run(read_trec_run(run_files["good"]), _qrels(), ["ndcg@10"]).mean["ndcg@10"]
    assert json.loads((tmp_path / "score" / "metrics.json").read_text())["mean"]["ndcg@10"] == expected
    assert f"{expected:.4f}" in scored.stdout

    compared = _script([*data, f"runs=[{run_files['good']},{run_files['noisy']},{run_files['partial']}]",
                        "baseline=good", "measures=[ndcg@10]", f"output={tmp_path}/cmp"], tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert "**ndcg@10**" in compared.stdout and "| good (baseline) |" in compared.stdout
    assert "p (Holm)" in compared.stdout and f"comparison: {tmp_path}/cmp/compare.json" in compared.stdout
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [row["run"] for row in result["results"]["ndcg@10"]] == ["good", "noisy", "partial"]
    assert result["results"]["ndcg@10"][0]["mean"] == pytest.approx(expected)


def test_script_bad_input_exits_2_with_one_line(collection_dir: Path, run_files: dict[str, Path],
                                                tmp_path: Path) -> None:
    """One real process (the other bad inputs go through the same run_cli in-process, above)."""
    duplicate = _bad_file(tmp_path, run_files["good"], "dup.trec", "q1 Q0 d1-1 99 0.5 t\n")
    done = _script([*data_overrides(collection_dir), f"runs=[{run_files['good']},{duplicate}]",
                    f"output={tmp_path}/out"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"error: {duplicate}:217: duplicate document 'd1-1' for query 'q1'")
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
