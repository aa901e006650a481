"""Group sampling: top-grade positive first, graded positives, negatives never relevant, skipped queries."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradedpr.data.negatives import PrecomputedNegatives, RandomNegatives
from gradedpr.data.sampler import GroupSampler

CORPUS = [f"d{i}" for i in range(40)]
QUERIES = {"q1": "query one", "q2": "query two", "q3": "query three", "q4": "no positives"}
QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 1, "d4": 0},
    "q2": {"d5": 1, "d6": 1},
    "q3": {"d7": 2, "d8": 2, "d9": 1},
    "q4": {"d10": 0},
}


def make(**kwargs: object) -> GroupSampler:
    defaults: dict = {"group_size": 6, "max_positives": 3, "seed": 3}
    defaults.update(kwargs)
    return GroupSampler(QUERIES, QRELS, CORPUS, RandomNegatives(), **defaults)


def test_queries_without_positive_are_skipped_and_counted() -> None:
    sampler = make()
    assert sampler.skipped == ["q4"]
    assert len(sampler) == 3
    seen = {g.qid for batch in sampler.batches(2, epoch=0) for g in batch}
    assert seen == {"q1", "q2", "q3"}


def test_first_candidate_has_the_top_grade_and_labels_come_from_qrels() -> None:
    sampler = make()
    for seed in range(20):
        rng = random.Random(seed)
        for qid in ("q1", "q2", "q3"):
            group = sampler.group(qid, rng)
            top = max(QRELS[qid].values())
            assert group.labels[0] == top
            assert len(group.docids) == 6 and len(set(group.docids)) == 6
            assert group.labels == tuple(QRELS[qid].get(d, 0) for d in group.docids)
            # positives come first, at most max_positives of them, then only non-relevant documents
            positives = [lab for lab in group.labels if lab > 0]
            assert 1 <= len(positives) <= 3
            assert all(lab > 0 for lab in group.labels[: len(positives)])
            assert all(lab <= 0 for lab in group.labels[len(positives) :])


def test_mined_negatives_used_first_and_relevant_ones_dropped() -> None:
    mined = PrecomputedNegatives({"q1": ["d1", "d2", "d4", "d20", "d21"]}, name="test")
    sampler = GroupSampler(QUERIES, QRELS, CORPUS, mined, group_size=4, max_positives=1, seed=0)
    group = sampler.group("q1", random.Random(0))
    assert group.docids[0] == "d1"
    # three negatives drawn from the mined non-relevant candidates d4, d20, d21 (d1, d2 are relevant)
    assert set(group.docids[1:]) == {"d4", "d20", "d21"}


def test_batches_are_deterministic_and_resume_skips_batches() -> None:
    a = [[g.docids for g in b] for b in make().batches(2, epoch=1)]
    b = [[g.docids for g in b] for b in make().batches(2, epoch=1)]
    assert a == b
    resumed = [[g.docids for g in b] for b in make().batches(2, epoch=1, start=1)]
    assert resumed == a[1:]
    other_epoch = [[g.docids for g in b] for b in make().batches(2, epoch=2)]
    assert other_epoch != a


def test_small_corpus_gives_short_group_instead_of_looping() -> None:
    sampler = GroupSampler({"q": "x"}, {"q": {"a": 1, "b": 1}}, ["a", "b", "c"], RandomNegatives(),
                           group_size=8, max_positives=2)
    group = sampler.group("q", random.Random(0))
    assert sorted(group.docids) == ["a", "b", "c"]


def test_invalid_settings_raise() -> None:
    with pytest.raises(ValueError, match="group_size"):
        make(group_size=1)
    with pytest.raises(ValueError, match="max_positives"):
        make(max_positives=0)
    with pytest.raises(ValueError, match="no training query"):
        GroupSampler({"q": "x"}, {"q": {"a": 0}}, CORPUS, RandomNegatives())


@settings(max_examples=40, deadline=None)
@given(
    grades=st.dictionaries(st.sampled_from(CORPUS[:12]), st.integers(-1, 3), min_size=1, max_size=10),
    seed=st.integers(0, 1000),
)
def test_property_negatives_never_relevant(grades: dict[str, int], seed: int) -> None:
    if not any(g > 0 for g in grades.values()):
        return
    sampler = GroupSampler({"q": "x"}, {"q": grades}, CORPUS, RandomNegatives(), group_size=5, max_positives=2)
    group = sampler.group("q", random.Random(seed))
    assert group.labels[0] == max(grades.values())
    npos = sum(1 for lab in group.labels if lab > 0)
    assert all(grades.get(d, 0) <= 0 for d in group.docids[npos:])
