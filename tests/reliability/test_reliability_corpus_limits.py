"""Settings that cannot work for this corpus or index are refused before any encoding (issue 16, items 3, 4).

Before: the shipped ``faiss=factory`` default (``IVF256,Flat``) on a corpus under 256 passages failed in
FAISS after the whole corpus was encoded; ``search_params='efSearch=64'`` on a flat index and
``'nprobe=abc'`` ended in RuntimeError tracebacks; ``faiss.nlist`` above the corpus size was silently
lowered and ``train.batch_size`` above the number of training queries silently gave smaller batches; a train
split whose grades are all <= 0 ended in a ValueError traceback from the sampler. Now what cannot work is one
line naming the setting (exit 2), and ``faiss.nlist`` / ``train.batch_size`` above what the data holds are
handled alike: lowered to the limit with one warning naming the setting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import assert_one_line_error, beir_overrides, run_forked

from gradedpr.errors import ConfigError
from gradedpr.index.dense import DenseIndex


def index_args(root: Path, model_dir: Path, d: Path, *extra: str) -> list[str]:
    return [*beir_overrides(root), f"checkpoint={model_dir}", f"output={d}/idx", f"embeddings_dir={d}/emb",
            *extra]


@pytest.mark.parametrize(("extra", "fragment"), [
    (["faiss=factory"], "faiss.factory='IVF256,Flat': 256 inverted lists need at least 256 passages to "
                        "train, tiny has 12: use IVF<n> with n <= 12"),
    (["faiss=factory", "faiss.factory='IVF4,PQ4'"], "PQ codes of 8 bits need at least 256 passages"),
])
def test_faiss_parameters_the_corpus_cannot_train_are_refused_before_encoding(
        extra: list[str], fragment: str, tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    result = run_forked("index.py", index_args(tiny_beir, tiny_model_dir, tmp_path, *extra), tmp_path)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "emb").exists() and not (tmp_path / "idx").exists()  # nothing was encoded


def test_search_params_the_index_type_rejects_are_refused_before_searching(
        tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    built = run_forked("index.py", index_args(tiny_beir, tiny_model_dir, tmp_path), tmp_path)
    assert built.returncode == 0, built.stderr[-2000:]
    for params, fragment in (("efSearch=64", "could not set parameter efSearch"),
                             ("nprobe=abc", "could not")):
        result = run_forked("evaluate.py", [*beir_overrides(tiny_beir), f"checkpoint={tiny_model_dir}",
                                            f"index={tmp_path}/idx", f"output={tmp_path}/eval",
                                            f"search_params='{params}'"], tmp_path)
        assert_one_line_error(result, f"search_params='{params}': FAISS rejects it for the Flat index", fragment)
        assert "Error in" not in result.stderr  # the reason, not FAISS's C++ location
        assert not (tmp_path / "eval").exists()
    with pytest.raises(ConfigError, match="search_params='efSearch=64'"):
        DenseIndex.load(tmp_path / "idx", search_parameters="efSearch=64")


def train_args(root: Path, model_dir: Path, *extra: str) -> list[str]:
    return [*beir_overrides(root), f"model.name_or_path={model_dir}", "logger=none", "train.group_size=2",
            "train.max_positives=1", "train.eval_k=10", "train.eval_at_start=false", "train.max_steps=2", *extra]


def test_batch_size_and_nlist_above_the_data_are_lowered_alike_with_a_warning(
        tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    trained = run_forked("train.py", train_args(tiny_beir, tiny_model_dir, "train.batch_size=8"), tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "train.batch_size=8 is above the 2 training queries" in trained.stdout + trained.stderr
    indexed = run_forked("index.py", index_args(tiny_beir, tiny_model_dir, tmp_path, "faiss=ivfpq",
                                                "faiss.nlist=64", "faiss.m=4"), tmp_path)
    assert indexed.returncode == 0, indexed.stderr[-2000:]
    assert "faiss.nlist=64 is above the 12 passages of tiny" in indexed.stdout + indexed.stderr


def test_a_train_split_without_a_positive_grade_is_one_line(tiny_beir: Path, tiny_model_dir: Path,
                                                            tmp_path: Path) -> None:
    train = tiny_beir / "qrels" / "train.tsv"
    train.write_text("query-id\tcorpus-id\tscore\nq0\td0\t0\nq0\td6\t-1\nq1\td1\t0\n")
    result = run_forked("train.py", train_args(tiny_beir, tiny_model_dir, "train.batch_size=2"), tmp_path)
    assert_one_line_error(result, f"{tiny_beir}: the train split has no query with a relevant document "
                                  "(every grade is <= 0)")
