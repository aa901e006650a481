"""A user's data is never replaced by gradedpr's (issue 16, item 1).

A BEIR collection passed as ``data.path=`` without choosing a data group (the default group builds the
built-in collection on first use) used to be overwritten by the built-in collection: its corpus, queries and
qrels replaced, its extra qrels files deleted, because a directory holding only ``corpus.jsonl``,
``queries.jsonl`` and ``qrels/`` was taken for a build by its file names. Now only a directory carrying the
build's marker (``meta.json`` with the generator version and content hash) is rebuilt over.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reliability_helpers import assert_one_line_error, run_forked

from gradedpr.data.builtin import BUILTIN, build_builtin
from gradedpr.errors import OutputError
from gradedpr.utils.atomic import atomic_directory


def users_beir(d: Path) -> dict[str, bytes]:
    """The issue's case: corpus.jsonl, queries.jsonl, qrels/test.tsv, plus one more qrels file."""
    (d / "qrels").mkdir(parents=True)
    (d / "corpus.jsonl").write_text('{"_id":"d1","text":"mine"}\n')
    (d / "queries.jsonl").write_text('{"_id":"q1","text":"q"}\n')
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\n")
    (d / "qrels" / "extra.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return snapshot(d)


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("script", ["index.py", "evaluate.py", "train.py"])
def test_a_users_beir_collection_is_never_replaced_by_the_builtin_one(script: str, tiny_model_dir: Path,
                                                                       tmp_path: Path) -> None:
    data = tmp_path / "d"
    before = users_beir(data)
    key = "model.name_or_path" if script == "train.py" else "checkpoint"
    extra = {"index.py": [f"output={tmp_path}/idx", f"embeddings_dir={tmp_path}/emb"],
             "evaluate.py": [f"output={tmp_path}/eval"], "train.py": ["logger=none"]}[script]
    result = run_forked(script, [f"{key}={tiny_model_dir}", f"data.path={data}", *extra], tmp_path)
    assert_one_line_error(result, f"data.path={data}", "no meta.json of gradedpr's", "data.builtin=false")
    assert snapshot(data) == before
    assert not (tmp_path / "idx").exists() and not (tmp_path / "emb").exists()


def test_build_builtin_refuses_a_directory_without_its_marker(tmp_path: Path) -> None:
    data = tmp_path / "d"
    before = users_beir(data)
    with pytest.raises(OutputError, match="no meta\\.json of gradedpr's"):
        build_builtin(data)
    with pytest.raises(OutputError, match="not empty and is not the built-in collection"), \
            atomic_directory(data, BUILTIN):
        pass
    assert snapshot(data) == before


def test_an_earlier_build_is_recognised_by_its_marker_and_rebuilt(tmp_path: Path) -> None:
    root = build_builtin(tmp_path / "b")
    meta = json.loads((root / "meta.json").read_text())
    meta["generator_version"] = "0"  # a build of an older version: its marker, stale content
    (root / "meta.json").write_text(json.dumps(meta))
    (root / "corpus.jsonl").write_text("stale\n")
    build_builtin(root)
    assert json.loads((root / "meta.json").read_text())["generator_version"] != "0"
    assert (root / "corpus.jsonl").read_text().startswith("{")
    (root / "notes.md").write_text("mine\n")  # a build with a user's file in it is not rebuilt over
    (root / "corpus.jsonl").write_text("stale\n")
    with pytest.raises(OutputError, match=r"holds 'notes\.md'"):
        build_builtin(root)
    assert (root / "notes.md").read_text() == "mine\n"


def test_an_empty_or_missing_directory_gets_the_build_with_its_marker(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "empty", tmp_path / "missing"):
        build_builtin(root)
        assert BUILTIN.is_marked(root)


def test_a_failed_start_removes_only_a_run_dir_holding_this_processs_own_log(tmp_path: Path) -> None:
    """Whether a run directory is the failed start's own is decided by this process's log handler, not by
    names: a directory holding a ``.hydra/`` and a ``train.log`` of someone else's is left alone."""
    import logging

    from gradedpr.utils.outputs import removed_on_failure

    theirs = tmp_path / "theirs"
    (theirs / ".hydra").mkdir(parents=True)
    (theirs / "train.log").write_text("an earlier run's log\n")
    with pytest.raises(RuntimeError), removed_on_failure(theirs):
        raise RuntimeError("bad setting")
    assert (theirs / "train.log").is_file() and (theirs / ".hydra").is_dir()

    ours = tmp_path / "ours"
    ours.mkdir()
    handler = logging.FileHandler(ours / "train.log")
    logging.getLogger().addHandler(handler)
    try:
        with pytest.raises(RuntimeError), removed_on_failure(ours):
            raise RuntimeError("bad setting")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert not ours.exists()


def test_an_embeddings_dir_with_store_like_names_but_no_marker_is_a_users(tiny_beir: Path, tiny_model_dir: Path,
                                                                          tmp_path: Path) -> None:
    """``embeddings_dir`` holding a user's ``ids.txt`` used to count as an unfinished store (by its name) and
    the file was replaced; a store gradedpr started carries ``.gradedpr-store.json`` from its first write."""
    emb = tmp_path / "emb"
    emb.mkdir()
    (emb / "ids.txt").write_text("my ids\n")
    args = [f"data.path={tiny_beir}", "data.name=tiny", "data.builtin=false", f"checkpoint={tiny_model_dir}",
            f"output={tmp_path}/idx", f"embeddings_dir={emb}"]
    result = run_forked("index.py", args, tmp_path)
    assert_one_line_error(result, f"{emb}: holds files but no embeddings.json or .gradedpr-store.json")
    assert sorted(p.name for p in emb.iterdir()) == ["ids.txt"] and (emb / "ids.txt").read_text() == "my ids\n"
    (emb / "ids.txt").unlink()
    done = run_forked("index.py", [*args, "keep_embeddings=false"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not emb.exists()  # the store, marker last, deleted with its directory
