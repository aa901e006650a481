"""What a user reads after ``scripts/train.py``: the final table in the console and in ``train.log``, no FAISS
loader noise, plain progress lines when the output is not a terminal, rounded numbers on screen and full
precision in the files."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from gradedpr.train.report import format_table, metrics_table, report_training, rounded, run_log_file
from gradedpr.train.trainer import TrainResult
from gradedpr.utils.progress import LogProgress, progress_bar
from test_end_to_end import ROOT, run_script, write_tiny_beir

LONG_DECIMAL = re.compile(r"\d\.\d{5,}")


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One tiny training run with a test split (output captured, so standard error is not a terminal)."""
    tmp = tmp_path_factory.mktemp("output")
    data = write_tiny_beir(tmp / "tiny")
    run_dir = tmp / "run"
    out = run_script("train.py", f"data.path={data}", "data.builtin=false", "data.name=tiny",
                     f"model.name_or_path={tiny_model_dir}", "logger=wandb", "logger.log_model=true",
                     "train.max_steps=4",
                     "train.eval_every=2", "train.batch_size=2", "train.eval_k=10", "train.lr=1e-3",
                     "train.test_split=test", f"hydra.run.dir={run_dir}")
    return run_dir, out


def test_training_ends_with_a_rounded_table_of_dev_and_test_metrics_in_train_log(trained: tuple[Path, str]) -> None:
    run_dir, out = trained
    log_text = (run_dir / "train.log").read_text(encoding="utf-8")
    summary = json.loads((run_dir / "train_summary.json").read_text())
    best = summary["best_step"]
    for text in (out, log_text):
        assert f"dev best (step {best})" in text and "test (best checkpoint)" in text
        table_row = next(line for line in text.splitlines() if re.match(r"\| ndcg@10 +\| +\d", line))
        test_value = summary["test"]["test/ndcg@10"]
        assert table_row.split("|")[-2].strip() == f"{test_value:.4f}"  # rounded for people
        report = text[text.index("training finished"):]
        assert not LONG_DECIMAL.search(report), report  # "best 0.7720425537584985" no more
        assert re.search(r"step 0: dev/.*dev/ndcg@10=0\.\d{4} ", text)  # the dev evaluations go through logging too
    # the files keep full precision
    record = next(json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                  if "dev/ndcg@10" in line)
    assert repr(record["dev/ndcg@10"]) == repr(float(record["dev/ndcg@10"]))
    assert summary["test"]["test/ndcg@10"] == pytest.approx(
        json.loads((run_dir / "test" / "metrics.json").read_text())["mean"]["ndcg@10"], abs=0)


def test_no_faiss_loader_lines_and_no_carriage_returns_without_a_terminal(trained: tuple[Path, str]) -> None:
    run_dir, out = trained
    log_text = (run_dir / "train.log").read_text(encoding="utf-8")
    for text in (out, log_text):
        assert "faiss.loader" not in text and "swigfaiss" not in text
        assert "\r" not in text  # no redrawn bars in redirected output
    assert re.search(r"train: 4/4 step", log_text)  # plain periodic progress lines instead


def test_faiss_loader_is_quiet_under_run_cli_only() -> None:
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
            "from gradedpr.commands.cli import run_cli\n"
            "{call}\n")
    plain = subprocess.run([sys.executable, "-c", code.format(call="import faiss")], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    quiet = subprocess.run([sys.executable, "-c", code.format(call="run_cli(lambda: __import__('faiss'))")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0 and quiet.returncode == 0, plain.stderr + quiet.stderr
    assert "faiss.loader" in plain.stdout  # the noise exists ...
    assert "faiss.loader" not in quiet.stdout + quiet.stderr  # ... and run_cli silences it


def test_log_progress_writes_a_line_per_tenth_and_no_bar(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gradedpr.progress"):
        bar = progress_bar(total=100, desc="encode", unit="p", show=True)  # pytest captures stderr: no terminal
        assert isinstance(bar, LogProgress)
        for _ in range(50):
            bar.update(2)
            bar.set_postfix(loss="0.5")
        bar.close()
        silent = progress_bar(total=10, desc="quiet", show=False)
        silent.update(10)
        silent.close()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(",")[0] for line in lines] == [f"encode: {n}/100 p" for n in range(10, 101, 10)]
    assert lines[-1].endswith("loss=0.5") and not any("quiet" in line for line in lines)


def test_progress_bar_draws_tqdm_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm.auto import tqdm

    monkeypatch.setattr("gradedpr.utils.progress.on_terminal", lambda: True)
    bar = progress_bar(total=3, desc="x", show=True, file=open("/dev/null", "w"))  # noqa: SIM115
    try:
        assert isinstance(bar, tqdm)
    finally:
        bar.close()


def test_metrics_table_columns_rows_and_rounding() -> None:
    evaluations = [{"step": 0, "dev/ndcg@10": 0.5, "dev/map": 0.25, "dev/seconds": 3.0},
                   {"step": 2, "dev/ndcg@10": 0.7720425537584985, "dev/map": 0.3, "dev/seconds": 3.0}]
    columns, rows = metrics_table(evaluations, 2, {"test/ndcg@10": 0.61234567, "test/map": 0.2},
                                  test_split="test")
    assert columns == ["measure", "dev start (step 0)", "dev best (step 2)", "test (best checkpoint)"]
    assert rows == [["ndcg@10", 0.5, 0.7720425537584985, 0.61234567], ["map", 0.25, 0.3, 0.2]]
    text = format_table(columns, rows)
    assert "0.7720" in text and "0.6123" in text and not LONG_DECIMAL.search(text)
    assert rounded(None) == "-" and rounded(3) == "3" and rounded(float("nan")) == "nan"
    # best = start: one dev column
    assert metrics_table(evaluations[:1], 0)[0] == ["measure", "dev best (step 0)"]


def test_run_log_file_writes_train_log_without_hydra(tmp_path: Path) -> None:
    result = TrainResult(run_dir=tmp_path, steps=2, best_metric=0.7720425537584985, best_step=2,
                         evaluations=[{"step": 0, "dev/ndcg@10": 0.5},
                                      {"step": 2, "dev/ndcg@10": 0.7720425537584985}],
                         test_metrics={"test/ndcg@10": 0.6})
    with run_log_file(tmp_path) as path, run_log_file(tmp_path):  # the second adds no second handler
        report_training(result, eval_metric="ndcg@10", eval_split="dev", test_split="test",
                        best_dir=tmp_path / "b", last_dir=tmp_path / "l", run_dir=tmp_path)
        warnings.warn("a library's warning", UserWarning, stacklevel=1)
    logging.getLogger("gradedpr.train.report").info("after the block: not in the file")
    text = path.read_text(encoding="utf-8")
    assert text.count("training finished: 2 steps") == 1
    assert "best 0.7720 at step 2" in text and "not in the file" not in text
    assert "UserWarning: a library's warning" in text
    assert getattr(logging, "_warnings_showwarning", None) is None  # warnings are plain again after the block


def test_every_training_run_writes_curves_png(trained: tuple[Path, str]) -> None:
    run_dir, _ = trained
    png = (run_dir / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert not list(run_dir.glob(".curves.png.*"))  # the temporary file was renamed into place


def test_curves_figure_draws_dev_loss_start_level_and_selected_step(tmp_path: Path) -> None:
    from gradedpr.train.curves import best_of, curve_points, curves_figure, read_records, write_curves

    records = [{"step": 0, "dev/ndcg@10": 0.5, "data/corpus": 36}]
    records += [{"step": s, "train/loss": 2.0 / s} for s in range(1, 7)]
    records += [{"step": 3, "dev/ndcg@10": 0.7}, {"step": 6, "dev/ndcg@10": 0.6}, {"step": 6, "test/ndcg@10": 0.1}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": 7, "tr')
    read = read_records(tmp_path / "metrics.jsonl")
    assert len(read) == len(records)  # the line cut short is skipped
    dev, loss = curve_points(read, "dev/ndcg@10"), curve_points(read, "train/loss")
    assert dev == [(0, 0.5), (3, 0.7), (6, 0.6)] and [s for s, _ in loss] == [1, 2, 3, 4, 5, 6]
    assert best_of(dev) == 3
    fig = curves_figure(dev, loss, metric="ndcg@10", best_step=3)
    top, bottom = fig.axes
    lines = {line.get_label(): line for line in top.get_lines()}
    assert list(lines["dev ndcg@10"].get_xdata()) == [0, 3, 6]
    start = lines["start model 0.5000"]
    assert list(start.get_ydata()) == [0.5, 0.5] and start.get_linestyle() == "--"
    assert list(lines["selected: step 3 (0.7000)"].get_xdata()) == [3]
    assert any(list(line.get_xdata()) == [3, 3] for line in bottom.get_lines())  # the step marked below too
    assert [line.get_label() for line in bottom.get_lines()][-1] == "train/loss"
    assert write_curves(tmp_path, "ndcg@10").read_bytes()[:4] == b"\x89PNG"


def test_the_wandb_run_of_a_training_is_named_grouped_and_has_the_model(trained: tuple[Path, str]) -> None:
    """scripts/train.py end to end: the offline run read back (name = run directory, group = the experiment
    Hydra composed, tags from the config, the best checkpoint as an artifact)."""
    from test_loggers_wandb import complete_records

    run_dir, _ = trained
    records = complete_records(next((run_dir / "wandb").glob("offline-run-*/run-*.wandb")))
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert (run.display_name, run.run_group, run.job_type) == (run_dir.name, "builtin", "train")
    assert list(run.tags) == ["loss:listnet", "regime:full", "data:tiny"]
    models = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact" and r.artifact.type == "model"]
    assert len(models) == 1 and "gradedpr.json" in {c.path for c in models[0].manifest.contents}
    image = {(item.key or "/".join(item.nested_key)): json.loads(item.value_json) for r in records
             if r.WhichOneof("record_type") == "history" for item in r.history.item
             if (item.key or "/".join(item.nested_key)).startswith("curves/")}
    assert image["curves/_type"] == "image-file" and image["curves/format"] == "png"  # curves.png in wandb too
