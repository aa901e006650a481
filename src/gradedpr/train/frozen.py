"""The frozen-passage regime: the passage encoder is fixed, only the query encoder trains.

DPR's ``fix_ctx_encoder`` pushed further (Karpukhin et al. 2020, section 5): the corpus is encoded **once**
by the frozen passage encoder into the embeddings store (:mod:`gradedpr.encode.sharded`, keyed on the
encoder and corpus fingerprints, so an index built from that store stays valid for every query encoder
trained against it), and each training query is scored against a real ranking instead of a handful of
in-batch candidates:

* ``candidates="corpus"``: every document of the corpus. The list of query ``b`` is the whole corpus with
  one of its top-grade judged documents moved to column 0 (what ``nll``'s ``first_max`` takes as DPR's
  "own positive"); labels are the query's grades, 0 for unjudged documents. Memory: the matrix ``N x H``
  float32 (``N = 1M, H = 384``: 1.5 GB) plus a ``B x N`` score matrix and what the loss builds on it
  (pairwise losses are ``B x N x N``: use ``topk`` for them beyond a few thousand documents).
* ``candidates="topk"``: the query's top ``topk`` documents under the current query encoder (exact search
  over the store, read in blocks, so memory stays bounded by one block for corpora of millions) plus its
  judged documents (at most ``max_judged`` of them, drawn at random each step, the top-grade one first)
  plus ``random`` documents drawn uniformly without replacement from the rest of the corpus (the pool: every
  document not already in the list and not held out), each labelled with the query's grades; lists are padded
  and masked to the longest in the batch. With ``search="hnsw"`` the top-k come from an HNSW index built once
  over the store (approximate; a step then costs the same for 10k and 1M documents).

  **Sampled-softmax correction** (``correct=True``; Bengio & Senecal, IEEE TNN 2008; Jean et al., ACL 2015): the
  ``m`` random documents stand for the ``P`` documents of the pool, each drawn with probability ``m / P``; adding
  ``log(P / m)`` to their scores makes ``sum_sampled exp(s_j + log(P / m))`` an unbiased estimate of
  ``sum_pool exp(s_j)``, the part of a softmax's normaliser the list leaves out, so that softmax losses
  (``nll``, ``graded_infonce``, ``listnet``) on a bounded list estimate their whole-corpus value. Judged and top-k
  documents are in the list with probability 1 and are not corrected. The random documents matter: with only the top-k
  (hard) candidates, nothing holds down the documents outside the window, and on NFCorpus dev nDCG@10
  fell from 0.30 to 0.16-0.22 within 50 steps (docs/RESULTS.md).

Documents held out of training (``excluded``, the unseen-documents protocol) are masked out of every list.

The lists are built here; the loss is applied to ``scores [B, L]``, ``labels [B, L]`` and ``mask [B, L]``
exactly as in the in-batch regime.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import torch
from torch import Tensor

from gradedpr.data.corpus import Corpus
from gradedpr.data.sampler import TrainGroup
from gradedpr.encode.batching import MaxTokens
from gradedpr.encode.sharded import DEFAULT_CHUNK_SIZE, encode_to_store, store_identity
from gradedpr.encode.store import META_FILE, EmbeddingStore, identity_mismatches, read_json
from gradedpr.errors import CheckpointError, ConfigError
from gradedpr.index.faiss_build import IndexSpec, apply_search_parameters, build_index
from gradedpr.losses.registry import BoundLoss
from gradedpr.model.biencoder import BiEncoder

log = logging.getLogger(__name__)

Candidates = Literal["corpus", "topk"]
Search = Literal["exact", "hnsw"]
SEARCH_BLOCK = 65536
"""Store rows scored at a time by the top-k search (bounds its memory)."""
HNSW_FOR_TRAINING = {"M": 16, "ef_construction": 40, "ef_search": 128}
"""A cheaper graph than index.py's default: training lists only need most of the top-k, and the build is paid
at every training start (docs/BENCHMARKS.md, "Bounded candidate lists")."""


def frozen_store(
    model: BiEncoder,
    corpus: Corpus,
    embeddings_dir: str | Path,
    *,
    batch_size: int = 64,
    max_tokens: MaxTokens = "auto",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    show_progress: bool = True,
    checkpoint: str | None = None,
) -> EmbeddingStore:
    """The store of ``model``'s passage embeddings of ``corpus`` in ``embeddings_dir`` (encoded on first use).

    A complete store made from another encoder or another corpus is never overwritten: it is refused with
    an error that says what differs.
    """
    directory = Path(embeddings_dir)
    identity = store_identity(model, corpus)
    if (directory / META_FILE).is_file():
        wrong = identity_mismatches(read_json(directory / META_FILE), identity)
        if wrong:
            raise CheckpointError(
                f"{directory}: holds embeddings of another passage encoder or corpus ({'; '.join(wrong)}); "
                "the frozen regime needs this model's passage embeddings: set train.embeddings_dir elsewhere"
            )
    store = encode_to_store(model, corpus, directory, batch_size, chunk_size=chunk_size,
                            show_progress=show_progress, max_tokens=max_tokens, checkpoint=checkpoint)
    assert store is not None  # a single process always merges
    return store


@dataclass
class FrozenLists:
    """One step's candidate lists: ``rows [B, L]`` into the store, the query's grades and a validity mask."""

    rows: Tensor
    labels: Tensor
    mask: Tensor
    offsets: Tensor | None = None  # added to the scores (sampled-softmax correction), [B, L]


class FrozenPassageStep:
    """Loss of one batch of training queries against frozen passage embeddings (see the module docstring)."""

    def __init__(
        self,
        model: BiEncoder,
        store: EmbeddingStore,
        corpus: Corpus,
        qrels: Mapping[str, Mapping[str, int]],
        loss_fn: BoundLoss,
        *,
        candidates: Candidates = "corpus",
        topk: int = 100,
        max_judged: int | None = None,
        random_negatives: int = 0,
        seed: int = 0,
        excluded: frozenset[str] = frozenset(),
        correct: bool = False,
        search: Search = "exact",
    ) -> None:
        # the settings were checked once, by the schema (FrozenConfig); only the store is checked here
        if store.num_rows != len(corpus):
            raise CheckpointError(f"{store.directory}: {store.num_rows} rows for a corpus of {len(corpus)}")
        self.model = model
        self.store = store
        self.corpus = corpus
        self.qrels = qrels
        self.loss_fn = loss_fn
        self.candidates = candidates
        self.topk = min(topk, store.num_rows)
        self.max_judged = max_judged
        self.random_negatives = min(random_negatives, store.num_rows)
        self.correct = correct
        self.ann: faiss.Index | None = None
        if candidates == "topk" and search == "hnsw":  # built once: the passages never change
            built = build_index(store, IndexSpec("hnsw", HNSW_FOR_TRAINING), show_progress=False)
            apply_search_parameters(built.index, built.search_parameters)
            self.ann = built.index
        self.seed = seed
        self.calls = 0
        self.matrix: Tensor | None = None
        self.rows_on_disk = store.memmap()  # top-k lists gather their rows from here (opened once)
        if candidates == "corpus":
            self.matrix = torch.from_numpy(store.load()).to(model.device)
        self._judged_rows: dict[str, tuple[list[int], list[int]]] = {}
        # documents held out of training (train.heldout_docs): masked from every list
        self.excluded = np.zeros(store.num_rows, dtype=bool)
        if excluded:
            self.excluded[[corpus.row(d) for d in sorted(excluded)]] = True
        self.num_excluded = int(self.excluded.sum())  # counted once: the pool size is needed for every list

    # ------------------------------------------------------------------ lists
    def _judged(self, qid: str) -> tuple[list[int], list[int]]:
        """Rows and grades of the query's judged documents with grade > 0 (cached)."""
        if qid not in self._judged_rows:
            pairs = sorted((d, g) for d, g in self.qrels.get(qid, {}).items() if g > 0)
            self._judged_rows[qid] = ([self.corpus.row(d) for d, _ in pairs], [g for _, g in pairs])
        return self._judged_rows[qid]

    def corpus_lists(self, groups: Sequence[TrainGroup]) -> FrozenLists:
        """Every document for every query; the group's first (top-grade) document in column 0."""
        n = self.store.num_rows
        rows = torch.arange(n).repeat(len(groups), 1)
        labels = torch.zeros(len(groups), n, dtype=torch.long)
        for b, group in enumerate(groups):
            judged_rows, grades = self._judged(group.qid)
            labels[b, judged_rows] = torch.tensor(grades, dtype=torch.long)
            first = self.corpus.row(group.docids[0])
            rows[b, 0], rows[b, first] = first, 0
            labels[b, 0], labels[b, first] = labels[b, first].clone(), labels[b, 0].clone()
        return FrozenLists(rows, labels, ~torch.from_numpy(self.excluded)[rows])

    def topk_rows(self, query_emb: Tensor) -> np.ndarray:
        """Rows of the ``topk`` best documents per query (exact inner-product search over the store, or the
        HNSW index with ``search="hnsw"``)."""
        q = query_emb.detach().float().cpu().numpy()
        if self.ann is not None:
            _, found = self.ann.search(np.ascontiguousarray(q, dtype=np.float32), self.topk)
            return np.asarray(found, dtype=np.int64)
        heap = faiss.ResultHeap(len(q), self.topk, keep_max=True)  # FAISS's exact top-k, merged block by block
        for start, block in self.store.iter_chunks(SEARCH_BLOCK):
            scores, rows = faiss.knn(np.ascontiguousarray(q, dtype=np.float32), np.ascontiguousarray(block),
                                     min(self.topk, len(block)), metric=faiss.METRIC_INNER_PRODUCT)
            heap.add_result(scores, rows + start)
        heap.finalize()
        return np.asarray(heap.I, dtype=np.int64)

    def topk_lists(self, groups: Sequence[TrainGroup], query_emb: Tensor) -> FrozenLists:
        """Per query: its top-grade document, other judged documents (capped), then its top-k documents."""
        rng = random.Random(f"{self.seed}-frozen-{self.calls}")
        retrieved = self.topk_rows(query_emb)
        lists: list[list[int]] = []
        grades_of: list[list[int]] = []
        weights: list[list[float]] = []
        for b, group in enumerate(groups):
            judged_rows, grades = self._judged(group.qid)
            grade = dict(zip(judged_rows, grades, strict=True))
            first = self.corpus.row(group.docids[0])
            others = [r for r in judged_rows if r != first]
            if self.max_judged is not None and len(others) > self.max_judged - 1:
                others = rng.sample(others, self.max_judged - 1)
            chosen = [first, *others]
            seen = set(chosen)
            for row in retrieved[b].tolist():
                if row >= 0 and row not in seen and not self.excluded[row]:  # -1: HNSW found fewer than k
                    seen.add(row)
                    chosen.append(int(row))
            fixed = len(chosen)
            drawn, pool = self._draw_uniform(rng, seen)
            chosen.extend(drawn)
            lists.append(chosen)
            grades_of.append([grade.get(r, 0) for r in chosen])
            weights.append([0.0] * fixed + [math.log(pool / len(drawn))] * len(drawn) if drawn else [0.0] * fixed)
        width = max(len(rows) for rows in lists)
        rows_t = torch.zeros(len(groups), width, dtype=torch.long)
        labels = torch.zeros(len(groups), width, dtype=torch.long)
        mask = torch.zeros(len(groups), width, dtype=torch.bool)
        offsets = torch.zeros(len(groups), width)
        for b, (rows, grades_b) in enumerate(zip(lists, grades_of, strict=True)):
            rows_t[b, : len(rows)] = torch.tensor(rows)
            labels[b, : len(rows)] = torch.tensor(grades_b)
            mask[b, : len(rows)] = True
            offsets[b, : len(rows)] = torch.tensor(weights[b])
        return FrozenLists(rows_t, labels, mask, offsets if self.correct else None)

    def _draw_uniform(self, rng: random.Random, taken: set[int]) -> tuple[list[int], int]:
        """``random`` rows drawn uniformly without replacement from the pool (rows not ``taken`` and not held
        out), and the pool's size. Rejection sampling: a draw costs O(random), not O(N), unless the pool is small."""
        n = self.store.num_rows
        pool = n - self.num_excluded - sum(1 for r in taken if not self.excluded[r])
        want = min(self.random_negatives, pool)
        drawn: list[int] = []
        if want <= 0:
            return drawn, pool
        if want > pool // 2:  # a small pool: enumerate it
            candidates = [r for r in range(n) if r not in taken and not self.excluded[r]]
            return rng.sample(candidates, want), pool
        picked: set[int] = set()
        while len(drawn) < want:
            row = rng.randrange(n)
            if row not in taken and row not in picked and not self.excluded[row]:
                picked.add(row)
                drawn.append(row)
        return drawn, pool

    # ------------------------------------------------------------------ step
    def scores(self, query_emb: Tensor, lists: FrozenLists) -> Tensor:
        """``[B, L]`` scores of each query against its own list (similarity / temperature)."""
        if self.matrix is not None:
            full = self.model.score(query_emb, self.matrix)
            return full.gather(1, lists.rows.to(full.device))
        flat = lists.rows.flatten().numpy()
        unique, inverse = np.unique(flat, return_inverse=True)
        vectors = np.ascontiguousarray(self.rows_on_disk[unique])
        passages = torch.from_numpy(vectors).to(query_emb.device)[torch.from_numpy(inverse)]
        passages = passages.view(*lists.rows.shape, -1)
        return self.model.score_lists(query_emb, passages)

    def __call__(self, groups: Sequence[TrainGroup]) -> Tensor:
        queries = [g.query for g in groups]
        query_emb = self.model.encode_queries(self.model.tokenize(queries, "query"))
        lists = self.corpus_lists(groups) if self.candidates == "corpus" else self.topk_lists(groups, query_emb)
        self.calls += 1
        scores = self.scores(query_emb, lists).float()
        device = scores.device
        if lists.offsets is not None:
            scores = scores + lists.offsets.to(device)
        return self.loss_fn(scores, lists.labels.to(device), lists.mask.to(device))


def freeze_passage_encoder(model: BiEncoder) -> None:
    """Stop gradients into the passage encoder (and its dropout); refuses a shared encoder."""
    if model.config.shared:
        raise ConfigError("train.regime=frozen needs two encoders: set model.shared=false")
    model.passage_encoder.requires_grad_(False)
    model.passage_encoder.eval()
