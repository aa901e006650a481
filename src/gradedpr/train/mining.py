"""Model-mined hard negatives (``train.negatives=model``): each training query's top documents under a model.

The start model's ranking gives the candidates (ANCE-style refreshes re-mine them from the current model
every ``negatives_refresh_every`` steps; Xiong et al. 2021, "Approximate nearest neighbor negative
contrastive learning for dense text retrieval", ICLR). The sampler drops the query's judged-relevant
documents from the candidates, as for every source; unjudged documents stay and may be false negatives
(relevant but never judged), which is why negatives are drawn from the top ``depth``, not taken from the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gradedpr.data.corpus import Corpus
from gradedpr.data.negatives import PrecomputedNegatives
from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import build_dense_index, encode_queries
from gradedpr.model.biencoder import BiEncoder


def mine_negatives(
    model: BiEncoder,
    corpus: Corpus,
    queries: Mapping[str, str],
    depth: int,
    *,
    index: DenseIndex | None = None,
    embeddings_dir: str | Path | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> PrecomputedNegatives:
    """Top-``depth`` documents of every query of ``queries`` under ``model`` (its query encoder against
    ``index``, or against the corpus encoded now by its passage encoder, in ``embeddings_dir`` when given)."""
    if index is None:
        index = build_dense_index(model, corpus, IndexSpec("flat"), embeddings_dir=embeddings_dir,
                                  batch_size=batch_size, show_progress=show_progress)
        assert index is not None
    qids, emb = encode_queries(model, queries, batch_size)
    _, docids = index.search(emb, min(depth, len(corpus)))
    return PrecomputedNegatives(dict(zip(qids, docids, strict=True)), name="model")
