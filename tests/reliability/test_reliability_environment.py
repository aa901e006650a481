"""Ctrl-C and environment failures end in one line saying what is intact (issue 16, item 3).

Before: Ctrl-C in ``scripts/train.py`` or ``scripts/index.py`` printed a 50-line ``KeyboardInterrupt``
traceback (though ``checkpoints/last`` was intact and resume bit-identical); a full disk while checkpointing
ended in ``RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos`` (never saying "no space
left"), while indexing in an ``OSError`` traceback; an unusable cache directory in a traceback. Now: one
``interrupted:`` line and exit status 130, or one ``error: <path>: <cause> [ERRNO]; <what is intact>`` line
and exit status 2. The interruptions happen at named points (``GRADEDPR_CRASH_AT=<point>:INT``), so the
tests do not depend on timing; the write failures are injected where the writers are called.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import assert_one_line_error, beir_overrides, run_forked

from gradedpr.commands.cli import run_cli
from gradedpr.utils import oserrors
from gradedpr.utils.oserrors import write_failure


def train_args(root: Path, model_dir: Path, *extra: str) -> list[str]:
    return [*beir_overrides(root), f"model.name_or_path={model_dir}", "logger=none", "train.batch_size=2",
            "train.group_size=2", "train.max_positives=1", "train.eval_k=10", "train.eval_at_start=false",
            "train.test_split=null", "train.max_steps=6", "train.save_every=2", "train.eval_every=0", *extra]


def index_args(root: Path, model_dir: Path, d: Path, *extra: str) -> list[str]:
    return [*beir_overrides(root), f"checkpoint={model_dir}", f"output={d}/idx", f"embeddings_dir={d}/emb",
            *extra]


def assert_interrupted(result: Any, *fragments: str) -> None:
    assert result.returncode == 130, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_ctrl_c_in_train_says_which_checkpoint_is_intact_and_the_resume_works(
        tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    last = tmp_path / "hydra" / "checkpoints" / "last"
    monkeypatch.setenv("GRADEDPR_CRASH_AT", "train_step_logged@3:INT")  # Ctrl-C after step 3
    stopped = run_forked("train.py", train_args(tiny_beir, tiny_model_dir), tmp_path)
    assert_interrupted(stopped, f"{last} (step 2) is intact", f"resume_from={last}")
    monkeypatch.delenv("GRADEDPR_CRASH_AT")
    resumed = run_forked("train.py", train_args(tiny_beir, tiny_model_dir, f"resume_from={last}"), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((last / "training_info.json").read_text())["step"] == 6


def test_ctrl_c_in_index_keeps_the_encoded_chunks_and_a_rerun_finishes(
        tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = index_args(tiny_beir, tiny_model_dir, tmp_path, "chunk_size=4")
    monkeypatch.setenv("GRADEDPR_CRASH_AT", "encode_chunk_done@2:INT")
    stopped = run_forked("index.py", args, tmp_path)
    assert_interrupted(stopped, f"kept in {tmp_path}/emb", "run the same command again")
    assert not (tmp_path / "idx").exists()
    monkeypatch.delenv("GRADEDPR_CRASH_AT")
    again = run_forked("index.py", args, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "idx" / "index.json").is_file()


def test_a_full_disk_while_checkpointing_is_one_line_naming_the_checkpoint(
        tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save reports a failed write as RuntimeError('... unexpected pos ...'); the disk is then full."""
    import torch

    from gradedpr.model import biencoder

    save = torch.save

    def failing_save(obj: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        if str(target).endswith("trainer_state.pt"):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        save(obj, target, *args, **kwargs)

    monkeypatch.setattr(biencoder.torch, "save", failing_save)
    monkeypatch.setattr(oserrors.shutil, "disk_usage", lambda path: type("U", (), {"free": 0})())
    result = run_forked("train.py", train_args(tiny_beir, tiny_model_dir), tmp_path)
    last = tmp_path / "hydra" / "checkpoints" / "last"
    assert_one_line_error(result, f"{last}: No space left on device [ENOSPC]", "no checkpoint was saved yet")
    assert not last.exists() and not [p for p in last.parent.iterdir() if p.name.startswith(".last.")]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_failed_index_write_is_one_line_naming_path_and_cause(
        code: int, tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradedpr.index import dense

    def failing_write(index: Any, path: str) -> None:
        raise OSError(code, __import__("os").strerror(code), path)

    monkeypatch.setattr(dense.faiss, "write_index", failing_write)
    result = run_forked("index.py", index_args(tiny_beir, tiny_model_dir, tmp_path), tmp_path)
    assert_one_line_error(result, f"{tmp_path}/idx/index.faiss: ", f"[{errno.errorcode[code]}]",
                          f"kept in {tmp_path}/emb")
    assert not (tmp_path / "idx").exists() and (tmp_path / "emb" / "embeddings.json").is_file()


def test_an_unusable_cache_directory_is_one_line(tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "cache"  # run_forked's GRADEDPR_CACHE_DIR: a file, so nothing can be created in it
    blocker.write_text("not a directory\n")
    result = run_forked("index.py", index_args(tiny_beir, tiny_model_dir, tmp_path), tmp_path)
    assert_one_line_error(result, f"{blocker}/", "Not a directory [ENOTDIR]", "nothing was encoded yet")


def test_run_cli_turns_environment_errors_and_ctrl_c_into_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/run/checkpoints/last")

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stop:
        run_cli(full, intact=lambda: "the earlier checkpoint is intact")
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("error: /data/run/checkpoints/last: No space left on device [ENOSPC]; the "
                                       "earlier checkpoint is intact\n")
    with pytest.raises(SystemExit) as stop:
        run_cli(interrupted)
    assert stop.value.code == 130 and capsys.readouterr().err.startswith("interrupted: files written before")
    with pytest.raises(OSError, match="bad file descriptor"):  # a bug, not the environment: not hidden
        run_cli(lambda: (_ for _ in ()).throw(OSError(errno.EBADF, "bad file descriptor")))


def test_write_failure_says_no_space_only_when_the_disk_is_full(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    wrapped = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
    assert write_failure(tmp_path / "x", wrapped).errno == errno.EIO  # this disk has room: quote the library
    monkeypatch.setattr(oserrors.shutil, "disk_usage", lambda path: type("U", (), {"free": 1024})())
    failure = write_failure(tmp_path / "x", wrapped)
    assert failure.errno == errno.ENOSPC and failure.filename == str(tmp_path / "x")
