"""gradedpr deletes or replaces only what it wrote itself (issue 9, item 1).

``scripts/index.py output=<a user's directory>`` used to replace the whole directory, and
``keep_embeddings=false`` deleted the whole ``embeddings_dir``. Now a directory is replaced only when it
carries gradedpr's marker for that kind of output and holds nothing else, and replacing an earlier output
of gradedpr's takes ``overwrite=true``; anything else is a one-line error (exit 2) that leaves it alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from hydra import compose, initialize
from omegaconf import DictConfig
from reliability_helpers import assert_one_line_error, beir_overrides, run_script

from gradedpr.commands.common import register_resolvers
from gradedpr.commands.index import run_index
from gradedpr.config.store import register_configs
from gradedpr.encode.store import MATRIX_FILE, META_FILE, delete_store
from gradedpr.errors import OutputError
from gradedpr.index.dense import DenseIndex
from gradedpr.model.biencoder import BiEncoder
from gradedpr.utils.atomic import atomic_directory
from gradedpr.utils.outputs import OutputKind


def index_config(root: Path, model_dir: Path, tmp_path: Path, *extra: str) -> DictConfig:
    with initialize(version_base="1.3", config_path="../../configs"):
        register_configs()
        register_resolvers()
        return compose(config_name="index", overrides=[
            *beir_overrides(root), f"checkpoint={model_dir}", f"output={tmp_path}/index",
            f"embeddings_dir={tmp_path}/emb", *extra,
        ])


def user_dir(path: Path) -> dict[str, bytes]:
    """A directory of a user's own files; returns its content for comparison."""
    (path / "sub").mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work\n")
    (path / "sub" / "data.csv").write_text("1,2,3\n")
    return snapshot(path)


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_index_script_refuses_an_output_directory_holding_other_files(tiny_beir: Path, tiny_model_dir: Path,
                                                                      tmp_path: Path) -> None:
    home = tmp_path / "home"
    before = user_dir(home)
    result = run_script("index.py", [*beir_overrides(tiny_beir), f"checkpoint={tiny_model_dir}",
                                     f"output={home}", f"embeddings_dir={tmp_path}/emb"], tmp_path)
    assert_one_line_error(result, str(home), "gradedpr replaces only its own outputs")
    assert snapshot(home) == before
    assert not (tmp_path / "emb").exists()  # refused before any work


def test_an_existing_index_is_replaced_only_with_overwrite(tiny_beir: Path, tiny_model_dir: Path,
                                                           tmp_path: Path) -> None:
    first = run_index(index_config(tiny_beir, tiny_model_dir, tmp_path))
    assert first is not None
    with pytest.raises(OutputError, match="already holds a gradedpr index; pass overwrite=true"):
        run_index(index_config(tiny_beir, tiny_model_dir, tmp_path))
    second = run_index(index_config(tiny_beir, tiny_model_dir, tmp_path, "overwrite=true", "faiss=hnsw"))
    assert second is not None
    assert DenseIndex.load(tmp_path / "index").meta["index"]["type"] == "hnsw"


def test_a_user_file_inside_an_index_blocks_even_overwrite(tiny_beir: Path, tiny_model_dir: Path,
                                                           tmp_path: Path) -> None:
    assert run_index(index_config(tiny_beir, tiny_model_dir, tmp_path)) is not None
    (tmp_path / "index" / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputError, match=r"holds 'notes\.txt', which gradedpr did not write"):
        run_index(index_config(tiny_beir, tiny_model_dir, tmp_path, "overwrite=true"))
    assert (tmp_path / "index" / "notes.txt").read_text() == "mine\n"
    assert DenseIndex.load(tmp_path / "index").meta["num_vectors"] == 12


def test_embeddings_dir_holding_other_files_is_refused_before_any_work(tiny_beir: Path, tiny_model_dir: Path,
                                                                       tmp_path: Path) -> None:
    before = user_dir(tmp_path / "emb")
    with pytest.raises(OutputError, match=r"emb: holds 'sub', 'thesis\.tex', which gradedpr did not write"):
        run_index(index_config(tiny_beir, tiny_model_dir, tmp_path, "keep_embeddings=false", "overwrite=true"))
    assert snapshot(tmp_path / "emb") == before
    assert not (tmp_path / "index").exists()


def test_keep_embeddings_false_deletes_only_the_store(tiny_beir: Path, tiny_model_dir: Path,
                                                      tmp_path: Path) -> None:
    index = run_index(index_config(tiny_beir, tiny_model_dir, tmp_path, "keep_embeddings=false"))
    assert index is not None and index.meta["embeddings_dir"] is None
    assert not (tmp_path / "emb").exists()  # nothing else was in it

    store = tmp_path / "emb2"
    store.mkdir()
    for name in (META_FILE, MATRIX_FILE, "ids.txt"):
        (store / name).write_text("gradedpr's\n")
    (store / "shards").mkdir()
    (store / "later.txt").write_text("a user's file that appeared while indexing\n")
    delete_store(store)
    assert [p.name for p in store.iterdir()] == ["later.txt"]


def test_embeddings_of_another_encoder_are_replaced_only_with_overwrite(tiny_beir: Path, tiny_model_dir: Path,
                                                                        tmp_path: Path) -> None:
    assert run_index(index_config(tiny_beir, tiny_model_dir, tmp_path)) is not None
    meta = json.loads((tmp_path / "emb" / META_FILE).read_text())
    meta["encoder_fingerprint"] = "another-encoder"
    (tmp_path / "emb" / META_FILE).write_text(json.dumps(meta))
    other = index_config(tiny_beir, tiny_model_dir, tmp_path, f"output={tmp_path}/index2")
    with pytest.raises(OutputError, match=r"another encoder or corpus .*encoder_fingerprint.*overwrite=true"):
        run_index(other)
    assert json.loads((tmp_path / "emb" / META_FILE).read_text())["encoder_fingerprint"] == "another-encoder"
    assert run_index(index_config(tiny_beir, tiny_model_dir, tmp_path, f"output={tmp_path}/index2",
                                  "overwrite=true")) is not None
    assert json.loads((tmp_path / "emb" / META_FILE).read_text())["encoder_fingerprint"] != "another-encoder"


def test_output_and_embeddings_dir_must_be_apart(tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="separate directories"):
        run_index(index_config(tiny_beir, tiny_model_dir, tmp_path, f"embeddings_dir={tmp_path}/index/emb"))


def test_save_apis_never_replace_a_users_directory(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir)
    home = tmp_path / "home"
    before = user_dir(home)
    with pytest.raises(OutputError, match="not a gradedpr checkpoint"):
        model.save_pretrained(home)
    flat = faiss.IndexFlatIP(4)
    flat.add(np.ones((1, 4), dtype=np.float32))
    index = DenseIndex(flat, ["a"], {"format_version": 1})
    with pytest.raises(OutputError, match="not a gradedpr index"):
        index.save(home)
    assert snapshot(home) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # no temporary left behind

    model.save_pretrained(tmp_path / "ckpt")
    model.save_pretrained(tmp_path / "ckpt", extra_files={"trainer_state.pt": {"step": 1}})  # its own: fine
    (tmp_path / "ckpt" / "mine.txt").write_text("x")
    with pytest.raises(OutputError, match=r"'mine\.txt', which gradedpr did not write"):
        model.save_pretrained(tmp_path / "ckpt")


def test_atomic_directory_replaces_only_its_kind(tmp_path: Path) -> None:
    kind = OutputKind("a thing", "thing.json", ("format_version",), frozenset({"a.txt"}))
    target = tmp_path / "out"
    with atomic_directory(target, kind) as tmp:
        (tmp / "a.txt").write_text("1")
        (tmp / "thing.json").write_text('{"format_version": 1}')
    with atomic_directory(target, kind) as tmp:  # its own kind: replaced
        (tmp / "b.txt").write_text("2")
        (tmp / "thing.json").write_text('{"format_version": 1}')
    (target / "c.txt").write_text("user")
    with pytest.raises(OutputError, match=r"'c\.txt'"), atomic_directory(target, kind) as tmp:
        (tmp / "thing.json").write_text('{"format_version": 1}')
    assert sorted(p.name for p in target.iterdir()) == ["b.txt", "c.txt", "thing.json"]
    (target / "thing.json").write_text('{"version": 1}')
    with pytest.raises(OutputError, match="not a thing"), atomic_directory(target, kind):
        pytest.fail("refused before the caller writes anything")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(OutputError, match="not a directory"), atomic_directory(not_a_dir, kind):
        pytest.fail("refused before the caller writes anything")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out"]
