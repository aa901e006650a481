"""What a regime builds before its first step (train/regime.py): held-out documents stay unseen in the full
regime too (never a positive, never a random negative, so never an in-batch negative either)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from gradedpr.config.schema import TrainConfig
from gradedpr.data.collection import load_collection
from gradedpr.losses import get_loss
from gradedpr.train.distributed import Dist
from gradedpr.train.regime import prepare_regime
from gradedpr.train.training_view import training_view
from tiny_beir import write_tiny_beir


def test_full_regime_never_samples_a_heldout_document(tmp_path: Path) -> None:
    collection = load_collection("beir", str(write_tiny_beir(tmp_path / "tiny")), ["train"])
    t = TrainConfig(regime="full", negatives="random", heldout_docs=0.5, subset_seed=0, group_size=6,
                    max_positives=2, batch_size=3)
    view = training_view(t, collection.qrels["train"], collection.split_queries("train"), collection.corpus.ids, 0)
    assert view.heldout
    app = SimpleNamespace(train=t, seed=0)
    parts = prepare_regime(app, None, collection, view, get_loss("listnet"), Dist(),  # type: ignore[arg-type]
                           embeddings_dir=tmp_path / "emb", show_progress=False)
    seen = {doc for epoch in range(30) for batch in parts.sampler.batches(3, epoch) for group in batch
            for doc in group.docids}
    assert seen and not seen & view.heldout
    assert parts.step is None and parts.frozen_index is None


def test_mined_negatives_with_heldout_documents_are_refused_by_the_schema() -> None:
    with pytest.raises(ValueError, match=r"train\.heldout_docs=0\.3: needs train\.regime=frozen or train\.negatives"):
        TrainConfig(regime="full", negatives="bm25", heldout_docs=0.3)
