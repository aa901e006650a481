"""The frozen-passage regime: candidate lists, top-k search, store reuse/refusal, and training only queries."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from gradedpr.config.schema import TrainConfig
from gradedpr.data.corpus import Corpus
from gradedpr.data.negatives import RandomNegatives
from gradedpr.data.sampler import GroupSampler, TrainGroup
from gradedpr.encode.batching import encode_texts
from gradedpr.encode.fingerprint import encoder_fingerprint
from gradedpr.errors import CheckpointError
from gradedpr.losses import get_loss
from gradedpr.model import BiEncoder
from gradedpr.train.frozen import FrozenPassageStep, freeze_passage_encoder, frozen_store
from gradedpr.train.trainer import Trainer

N_DOCS = 30
IDS = [f"d{i:02d}" for i in range(N_DOCS)]
TOPICS = ["apple", "banana", "cherry", "grape", "lemon", "mango"]
TEXTS = [f"{TOPICS[i % 6]} fact number {i} about {TOPICS[i % 6]}" for i in range(N_DOCS)]
CODES = ["red", "green", "blue", "black", "white", "pink"]
QUERIES = {f"q{t}": f"{code} {code}" for t, code in enumerate(CODES)}
QRELS = {f"q{t}": {IDS[i]: (2 if i == t else 1) for i in range(t, N_DOCS, 6)} for t in range(6)}


@pytest.fixture()
def setup(tiny_model_dir: Path, tmp_path: Path) -> tuple[BiEncoder, Corpus, Path]:
    torch.manual_seed(0)
    model = BiEncoder.from_pretrained(tiny_model_dir, temperature=0.05)
    corpus = Corpus.from_lists(IDS, [""] * N_DOCS, TEXTS)
    return model, corpus, tmp_path / "emb"


def groups_for(qids: list[str]) -> list[TrainGroup]:
    sampler = GroupSampler(QUERIES, QRELS, IDS, RandomNegatives(), group_size=2, max_positives=1, seed=3)
    rng = random.Random(0)
    return [sampler.group(q, rng) for q in qids]


def test_corpus_lists_put_the_positive_first_and_label_every_document(setup: tuple) -> None:
    model, corpus, emb_dir = setup
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="corpus")
    groups = groups_for(["q0", "q3"])
    lists = step.corpus_lists(groups)
    assert lists.rows.shape == (2, N_DOCS) and bool(lists.mask.all())
    for b, group in enumerate(groups):
        rows = lists.rows[b].tolist()
        assert sorted(rows) == list(range(N_DOCS))  # a permutation of the corpus
        assert IDS[rows[0]] == group.docids[0] and QRELS[group.qid][IDS[rows[0]]] == 2
        want = [QRELS[group.qid].get(IDS[r], 0) for r in rows]
        assert lists.labels[b].tolist() == want


def test_scores_are_the_similarities_of_each_listed_document(setup: tuple) -> None:
    model, corpus, emb_dir = setup
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    matrix = torch.from_numpy(store.load())
    groups = groups_for(["q1", "q2"])
    q = torch.tensor(encode_texts(model, [g.query for g in groups], "query"))
    for mode in ("corpus", "topk"):
        step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates=mode, topk=5)  # type: ignore[arg-type]
        lists = step.corpus_lists(groups) if mode == "corpus" else step.topk_lists(groups, q)
        got = step.scores(q, lists)
        want = torch.stack([q[b] @ matrix[lists.rows[b]].T for b in range(2)]) / 0.05
        torch.testing.assert_close(got[lists.mask], want[lists.mask], rtol=1e-5, atol=1e-5)


def test_topk_lists_hold_the_judged_and_the_exact_top_k(setup: tuple) -> None:
    model, corpus, emb_dir = setup
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="topk", topk=7)
    groups = groups_for(["q0", "q4"])
    q = torch.tensor(encode_texts(model, [g.query for g in groups], "query"))
    brute = torch.topk(q @ torch.from_numpy(store.load()).T, 7, dim=1).indices
    lists = step.topk_lists(groups, q)
    for b, group in enumerate(groups):
        rows = lists.rows[b][lists.mask[b]].tolist()
        assert len(rows) == len(set(rows))  # no document twice
        assert IDS[rows[0]] == group.docids[0]
        judged = {corpus.row(d) for d in QRELS[group.qid]}
        assert judged <= set(rows)
        assert set(brute[b].tolist()) <= set(rows)
        assert lists.labels[b][lists.mask[b]].tolist() == [QRELS[group.qid].get(IDS[r], 0) for r in rows]
        assert not bool(lists.labels[b][~lists.mask[b]].any())


def test_topk_search_reads_the_store_in_blocks(setup: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradedpr.train import frozen

    model, corpus, emb_dir = setup
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="topk", topk=4)
    q = torch.tensor(encode_texts(model, list(QUERIES.values()), "query"))
    whole = step.topk_rows(q)
    monkeypatch.setattr(frozen, "SEARCH_BLOCK", 7)  # 30 rows in 5 blocks
    blocked = step.topk_rows(q)
    assert np.array_equal(np.sort(whole, axis=1), np.sort(blocked, axis=1))


def test_max_judged_caps_the_judged_documents(setup: tuple) -> None:
    model, corpus, emb_dir = setup
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="topk", topk=1,
                             max_judged=2)
    groups = groups_for(["q0"])
    q = torch.tensor(encode_texts(model, [groups[0].query], "query"))
    lists = step.topk_lists(groups, q)
    rows = lists.rows[0][lists.mask[0]].tolist()
    judged_in = [r for r in rows if IDS[r] in QRELS["q0"]]
    assert 2 <= len(judged_in) <= 3 and len(rows) <= 3  # 2 judged (+ the top-1, unless it is judged)


def test_a_store_of_another_encoder_is_refused_not_overwritten(setup: tuple, tiny_model_dir: Path) -> None:
    model, corpus, emb_dir = setup
    frozen_store(model, corpus, emb_dir, show_progress=False)
    before = (emb_dir / "embeddings.f32").read_bytes()
    other = BiEncoder.from_pretrained(tiny_model_dir, temperature=0.05, passage_max_length=16)
    with pytest.raises(CheckpointError, match="another passage encoder or corpus"):
        frozen_store(other, corpus, emb_dir, show_progress=False)
    assert (emb_dir / "embeddings.f32").read_bytes() == before


def test_frozen_training_moves_only_the_query_encoder_and_learns(setup: tuple, tmp_path: Path) -> None:
    model, corpus, emb_dir = setup
    freeze_passage_encoder(model)
    passage_fp = encoder_fingerprint(model, "passage")
    query_fp = encoder_fingerprint(model, "query")
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    sampler = GroupSampler(QUERIES, QRELS, IDS, RandomNegatives(), group_size=2, max_positives=1, seed=1)
    step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="corpus")
    matrix = torch.from_numpy(store.load())

    def mean_rank_of_relevant(m: BiEncoder) -> dict[str, float]:
        q = torch.tensor(encode_texts(m, list(QUERIES.values()), "query"))
        order = torch.argsort(q @ matrix.T, dim=1, descending=True)
        ranks = [float(np.mean([order[b].tolist().index(corpus.row(d)) for d in QRELS[qid]]))
                 for b, qid in enumerate(QUERIES)]
        return {"neg_rank": -float(np.mean(ranks))}

    settings = TrainConfig(batch_size=3, group_size=2, max_steps=30, lr=1e-3, eval_every=30,
                             warmup_ratio=0.0, eval_metric="neg_rank")
    trainer = Trainer(model, sampler, corpus, get_loss("listnet"), settings, tmp_path / "run",
                      evaluate=mean_rank_of_relevant, show_progress=False, step=step)
    result = trainer.train()
    first, last = result.evaluations[0]["dev/neg_rank"], result.evaluations[-1]["dev/neg_rank"]
    assert last > first + 2.0  # relevant documents moved up by more than two places on average
    assert encoder_fingerprint(model, "passage") == passage_fp
    assert encoder_fingerprint(model, "query") != query_fp
    saved = BiEncoder.from_pretrained(tmp_path / "run" / "checkpoints" / "last")
    assert encoder_fingerprint(saved, "passage") == passage_fp  # an index of the start model stays valid


def test_shared_encoder_cannot_be_frozen(tiny_model_dir: Path) -> None:
    model = BiEncoder.from_pretrained(tiny_model_dir, shared=True)
    with pytest.raises(ValueError, match="two encoders"):
        freeze_passage_encoder(model)


def test_bad_frozen_settings_are_refused_once_by_the_schema() -> None:
    """train.frozen.* is checked by FrozenConfig (the one owner); the step trusts the validated settings."""
    from gradedpr.config.schema import FrozenConfig

    for bad, key in (({"candidates": "all"}, "train.frozen.candidates"), ({"topk": 0}, "train.frozen.topk"),
                     ({"max_judged": 0}, "train.frozen.max_judged"), ({"random": -1}, "train.frozen.random"),
                     ({"search": "ivf"}, "train.frozen.search")):
        with pytest.raises(ValueError, match=key):
            FrozenConfig(**bad)  # type: ignore[arg-type]


def test_random_documents_widen_the_topk_lists(setup: tuple) -> None:
    model, corpus, emb_dir = setup
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    groups = groups_for(["q2", "q5"])
    q = torch.tensor(encode_texts(model, [g.query for g in groups], "query"))
    narrow = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="topk", topk=2)
    wide = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="topk", topk=2,
                             random_negatives=10)
    small, big = narrow.topk_lists(groups, q), wide.topk_lists(groups, q)
    for b, group in enumerate(groups):
        rows = big.rows[b][big.mask[b]].tolist()
        assert len(rows) == len(set(rows))
        assert set(small.rows[b][small.mask[b]].tolist()) <= set(rows)
        assert len(rows) > int(small.mask[b].sum())  # some random documents were added
        assert big.labels[b][big.mask[b]].tolist() == [QRELS[group.qid].get(IDS[r], 0) for r in rows]


@pytest.mark.parametrize("loss", ["listnet", "nll", "lambdaloss"])
def test_topk_over_the_whole_corpus_equals_corpus_mode(setup: tuple, loss: str) -> None:
    """With k = the corpus size, a top-k list is the corpus in another column order: same loss, same gradient."""
    model, corpus, emb_dir = setup
    model.eval()  # no dropout: both passes see the same network
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    groups = groups_for(["q0", "q1", "q2"])
    values = []
    for mode in ("corpus", "topk"):
        model.zero_grad()
        step = FrozenPassageStep(model, store, corpus, QRELS, get_loss(loss), candidates=mode, topk=N_DOCS)  # type: ignore[arg-type]
        value = step(groups)
        value.backward()
        grad = torch.cat([p.grad.flatten() for p in model.query_encoder.parameters() if p.grad is not None])
        values.append((value.detach(), grad.clone()))
    torch.testing.assert_close(values[0][0], values[1][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(values[0][1], values[1][1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", ["graded_infonce", "listnet"])
def test_heldout_documents_leave_every_list_and_the_loss(setup: tuple, loss: str) -> None:
    """Held-out documents (train.heldout_docs) are masked out: the loss equals the loss over a list that never
    held them (brute force: the scores of the kept columns only), in corpus and in top-k mode."""
    model, corpus, emb_dir = setup
    model.eval()
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    qrels = {q: {d: g for d, g in judged.items() if d not in {"d12", "d18"}} for q, judged in QRELS.items()}
    excluded = frozenset({"d12", "d18", "d05", "d29"})  # judged for q0 / q5 in QRELS; dropped from qrels above
    groups = [g for g in groups_for(["q0", "q1", "q5"]) if g.docids[0] not in excluded]
    matrix = torch.from_numpy(store.load())
    kept_rows = [r for r in range(N_DOCS) if IDS[r] not in excluded]
    with torch.no_grad():
        q = model.encode_queries(model.tokenize([g.query for g in groups], "query"))
        scores = (q @ matrix[kept_rows].T) / 0.05
    labels = torch.tensor([[qrels[g.qid].get(IDS[r], 0) for r in kept_rows] for g in groups])
    first = [kept_rows.index(corpus.row(g.docids[0])) for g in groups]
    order = [[f, *[c for c in range(len(kept_rows)) if c != f]] for f in first]  # the positive in column 0
    index = torch.tensor(order)
    want = get_loss(loss)(scores.gather(1, index), labels.gather(1, index), torch.ones_like(index, dtype=torch.bool))
    for mode in ("corpus", "topk"):
        step = FrozenPassageStep(model, store, corpus, qrels, get_loss(loss), candidates=mode,  # type: ignore[arg-type]
                                 topk=N_DOCS, excluded=excluded)
        lists = step.corpus_lists(groups) if mode == "corpus" else step.topk_lists(groups, q)
        listed = {IDS[int(r)] for r in lists.rows[lists.mask]}
        assert not listed & excluded and listed == {IDS[r] for r in kept_rows}
        with torch.no_grad():
            got = step(groups)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_sampled_softmax_correction_estimates_the_whole_pool(setup: tuple) -> None:
    """With the correction, sum over the drawn documents of exp(s + log(P / m)) is an unbiased estimate of the
    sum over the pool of exp(s): its mean over 3,000 draws is within 2% of the exact pool sum."""
    model, corpus, emb_dir = setup
    model.eval()
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("graded_infonce"), candidates="topk", topk=3,
                             random_negatives=4, correct=True)
    groups = groups_for(["q0"])
    with torch.no_grad():
        q = model.encode_queries(model.tokenize([groups[0].query], "query"))
        all_scores = (q @ torch.from_numpy(store.load()).T)[0] / 0.05
    estimates = []
    fixed_rows: set[int] | None = None
    for call in range(3000):
        step.calls = call
        lists = step.topk_lists(groups, q)
        assert lists.offsets is not None
        rows, offsets = lists.rows[0][lists.mask[0]], lists.offsets[0][lists.mask[0]]
        sampled = offsets != 0
        fixed = set(rows[~sampled].tolist())
        fixed_rows = fixed_rows or fixed
        assert fixed == fixed_rows and int(sampled.sum()) == 4  # judged + top-3 fixed; 4 drawn from the rest
        pool = N_DOCS - len(fixed)
        torch.testing.assert_close(offsets[sampled], torch.full((4,), math.log(pool / 4)))
        estimates.append(float(torch.exp(all_scores[rows[sampled]] - 20 + offsets[sampled]).sum()))
    assert fixed_rows is not None
    exact = float(torch.exp(all_scores[[r for r in range(N_DOCS) if r not in fixed_rows]] - 20).sum())
    assert abs(np.mean(estimates) / exact - 1) < 0.02


def test_drawing_the_whole_pool_gives_the_corpus_loss_and_hnsw_the_exact_top_k(setup: tuple) -> None:
    model, corpus, emb_dir = setup
    model.eval()
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    groups = groups_for(["q0", "q1", "q2"])
    corpus_step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("graded_infonce"), candidates="corpus")
    bounded = FrozenPassageStep(model, store, corpus, QRELS, get_loss("graded_infonce"), candidates="topk",
                                topk=2, random_negatives=N_DOCS, correct=True, search="hnsw")
    with torch.no_grad():
        torch.testing.assert_close(bounded(groups), corpus_step(groups), rtol=1e-5, atol=1e-6)  # P / m = 1
        q = model.encode_queries(model.tokenize([g.query for g in groups], "query"))
    exact = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="topk", topk=5)
    assert bounded.ann is not None and exact.ann is None
    bounded.topk = 5
    assert bounded.topk_rows(q).tolist() == [sorted(r, key=lambda x: -float(q[i] @ torch.from_numpy(
        store.load()[x]))) for i, r in enumerate(exact.topk_rows(q).tolist())]


def test_bounded_list_settings_are_checked() -> None:
    from gradedpr.config.schema import FrozenConfig

    with pytest.raises(ValueError, match=r"train\.frozen\.correct"):
        FrozenConfig(candidates="topk", correct=True)  # nothing drawn, nothing to correct
    with pytest.raises(ValueError, match=r"train\.frozen\.search"):
        FrozenConfig(search="ivf")


def test_exact_topk_merged_over_store_blocks_equals_brute_force(setup: tuple,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The store is scanned in blocks (bounded memory) and FAISS's result heap merges them: same rows as a
    brute-force ranking of the whole matrix."""
    import gradedpr.train.frozen as frozen

    model, corpus, emb_dir = setup
    store = frozen_store(model, corpus, emb_dir, show_progress=False)
    monkeypatch.setattr(frozen, "SEARCH_BLOCK", 5)  # several blocks even for a tiny corpus
    step = FrozenPassageStep(model, store, corpus, QRELS, get_loss("listnet"), candidates="topk", topk=4)
    q = torch.tensor(encode_texts(model, ["apple pie", "space rocket", "river fish"], "query"))
    scores = q.numpy() @ store.load().T
    brute = np.argsort(-scores, axis=1, kind="stable")[:, :4]
    found = step.topk_rows(q)
    for row in range(len(q)):  # as sets of scores: ties may order differently
        assert sorted(scores[row, found[row]].tolist()) == pytest.approx(sorted(scores[row, brute[row]].tolist()))
