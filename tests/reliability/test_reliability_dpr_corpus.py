"""DPR-json data: the corpus is every context of every split file of the data config (issue 9, item 3).

``scripts/index.py`` (which reads no split) crashed with an IndexError on DPR data, and ``scripts/evaluate.py``
ranked the test questions against the test file's contexts only -- a corpus a fraction of the size, so a
higher nDCG than the same data in BEIR layout. Now the corpus of DPR data is the deduplicated contexts of all
its split files, whatever splits a command reads judgments of, and both layouts give the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize
from omegaconf import DictConfig

from gradedpr.commands.common import register_resolvers
from gradedpr.commands.evaluate import run_evaluate
from gradedpr.commands.index import run_index
from gradedpr.config.store import register_configs
from gradedpr.data.from_config import collection_from_config

TOPICS = ["apple", "banana", "cherry", "grape", "lemon", "mango", "olive", "peach", "plum"]
SPLITS = {"train": range(0, 3), "dev": range(3, 6), "test": range(6, 9)}


def context(doc: int) -> dict:
    return {"passage_id": f"p{doc}", "title": "", "text": f"{TOPICS[doc % 9]} passage number {doc}"}


def write_both(tmp_path: Path) -> tuple[Path, Path]:
    """The same 27 passages, 9 questions and judgments as DPR json files and in BEIR layout."""
    dpr, beir = tmp_path / "dpr", tmp_path / "beir"
    dpr.mkdir()
    (beir / "qrels").mkdir(parents=True)
    docs: dict[str, str] = {}
    queries: dict[str, str] = {}
    for split, topics in SPLITS.items():
        questions, qrels = [], ["query-id\tcorpus-id\tscore"]
        for t in topics:
            positives, negatives = [context(t), context(t + 9)], [context(t + 18), context((t + 1) % 27)]
            questions.append({"id": f"q{t}", "question": f"{TOPICS[t]} question",
                              "positive_ctxs": positives, "hard_negative_ctxs": negatives})
            queries[f"q{t}"] = f"{TOPICS[t]} question"
            qrels += [f"q{t}\t{c['passage_id']}\t1" for c in positives]
            qrels += [f"q{t}\t{c['passage_id']}\t0" for c in negatives]
            for c in positives + negatives:
                docs.setdefault(c["passage_id"], c["text"])
        (dpr / f"{split}.json").write_text(json.dumps(questions), encoding="utf-8")
        (beir / "qrels" / f"{split}.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n"
                                               for d, t in docs.items()), encoding="utf-8")
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                                for q, t in queries.items()), encoding="utf-8")
    return dpr, beir


def config(name: str, root: Path, fmt: str, *extra: str) -> DictConfig:
    with initialize(version_base="1.3", config_path="../../configs"):
        register_resolvers()
        register_configs()
        return compose(config_name=name, overrides=[f"data.path={root}", f"data.name={fmt}", "data.builtin=false",
                                                     f"data.format={fmt}", "show_progress=false", *extra])


@pytest.fixture
def layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("GRADEDPR_CACHE_DIR", str(tmp_path / "cache"))
    return write_both(tmp_path)


@pytest.mark.parametrize("splits", [[], ["test"], ["train", "dev"]])
def test_the_dpr_corpus_is_every_context_of_every_split_file(splits: list[str], layouts: tuple[Path, Path]) -> None:
    dpr, beir = layouts
    from_dpr = collection_from_config(config("evaluate", dpr, "dpr").data, splits=splits)
    from_beir = collection_from_config(config("evaluate", beir, "beir").data, splits=splits)
    assert len(from_dpr.corpus) == len(from_beir.corpus) == 27
    assert {d: from_dpr.corpus.text(from_dpr.corpus.row(d)) for d in from_dpr.corpus.ids} == {
        d: from_beir.corpus.text(from_beir.corpus.row(d)) for d in from_beir.corpus.ids}
    assert sorted(from_dpr.qrels) == sorted(splits)
    assert from_dpr.qrels == from_beir.qrels
    # the same corpus (same fingerprint) whatever splits are read, so an index of it stays valid
    assert from_dpr.corpus.fingerprint == collection_from_config(config("evaluate", dpr, "dpr").data,
                                                                 splits=["dev"]).corpus.fingerprint


def test_dpr_and_beir_layouts_index_and_evaluate_the_same(layouts: tuple[Path, Path], tiny_model_dir: Path,
                                                          tmp_path: Path) -> None:
    results = {}
    for root, fmt in zip(layouts, ("dpr", "beir"), strict=True):
        out = tmp_path / f"out-{fmt}"
        index = run_index(config("index", root, fmt, f"checkpoint={tiny_model_dir}", f"output={out}/index",
                                 f"embeddings_dir={out}/emb"))
        assert index is not None and index.meta["num_vectors"] == 27
        results[fmt] = run_evaluate(config("evaluate", root, fmt, f"checkpoint={tiny_model_dir}",
                                           f"index={out}/index", f"output={out}/eval"))
    assert results["dpr"].mean == pytest.approx(results["beir"].mean, abs=1e-6)
    assert results["dpr"].num_queries == results["beir"].num_queries == 3
