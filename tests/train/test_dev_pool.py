"""train.dev_pool: the full regime's dev evaluations rank a pool fixed before training (the start model's top k
of each dev query plus the judged documents), kept in the run directory so that a resume ranks the same pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradedpr.config.schema import TrainConfig
from gradedpr.data.collection import load_collection
from gradedpr.errors import CheckpointError
from gradedpr.index.retrieval import retrieve
from gradedpr.model.biencoder import BiEncoder
from gradedpr.train.dev_pool import POOL_FILE, dev_pool, pool_documents
from gradedpr.train.split_eval import SplitRetrieval
from tiny_beir import write_tiny_beir


def test_pool_is_top_k_plus_judged_and_fixed_across_a_resume(tiny_model_dir: Path, tmp_path: Path) -> None:
    collection = load_collection("beir", str(write_tiny_beir(tmp_path / "tiny")), ["train", "dev"])
    start = BiEncoder.from_pretrained(tiny_model_dir)
    whole = retrieve(start, collection, "dev", k=2, show_progress=False)
    judged = {d for docs in collection.qrels["dev"].values() for d in docs}
    expected = {d for ranking in whole.values() for d in ranking} | judged
    docs = pool_documents(start, collection, "dev", 2)
    assert set(docs) == expected and len(docs) < len(collection.corpus)
    pooled = dev_pool(tmp_path, start, collection, "dev", 2)
    assert list(pooled.corpus.ids) == docs and pooled.qrels is collection.qrels
    saved = json.loads((tmp_path / POOL_FILE).read_text())
    assert saved == {"split": "dev", "k": 2, "docs": docs}
    # a resume reads the pool back, whatever the model now is
    other = BiEncoder.from_pretrained(tiny_model_dir, temperature=0.5)
    with torch_no_grad():
        for p in other.parameters():
            p.add_(0.1)
    assert list(dev_pool(tmp_path, other, collection, "dev", 2).corpus.ids) == docs
    with pytest.raises(CheckpointError, match="a pool of split 'dev' at k=2, but this run asks for 'dev' at k=3"):
        dev_pool(tmp_path, other, collection, "dev", 3)


def test_dev_retrieval_ranks_the_pool_and_test_the_whole_corpus(tiny_model_dir: Path, tmp_path: Path) -> None:
    collection = load_collection("beir", str(write_tiny_beir(tmp_path / "tiny")), ["train", "dev", "test"])
    model = BiEncoder.from_pretrained(tiny_model_dir)
    pooled = dev_pool(tmp_path, model, collection, "dev", 1)
    retrieval = SplitRetrieval(collection, TrainConfig(eval_k=10, test_split="test"), None, {"dev": pooled})
    dev_docs = {d for ranking in retrieval.run(model, "dev").values() for d in ranking}
    assert dev_docs <= set(pooled.corpus.ids)
    test_docs = {d for ranking in retrieval.run(model, "test").values() for d in ranking}
    assert not test_docs <= set(pooled.corpus.ids)  # test ranks the whole corpus
    assert retrieval.evaluator("dev")(model)["ndcg@10"] > 0


def test_dev_pool_needs_the_full_regime() -> None:
    with pytest.raises(ValueError, match=r"train\.dev_pool=100: needs train\.regime=full"):
        TrainConfig(regime="frozen", dev_pool=100)
    with pytest.raises(ValueError, match=r"train\.dev_pool=0"):
        TrainConfig(dev_pool=0)


def torch_no_grad():  # type: ignore[no-untyped-def]
    import torch

    return torch.no_grad()
