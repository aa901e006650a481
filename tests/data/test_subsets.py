"""Seeded query subsets and held-out documents (the generalization protocols)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradedpr.data.subsets import drop_documents, heldout_documents, only_documents, sample_queries, top_grade_only
from gradedpr.errors import ConfigError

IDS = [f"d{i}" for i in range(200)]


def test_query_subset_is_seeded_sorted_and_order_free() -> None:
    qids = [f"q{i}" for i in range(50)]
    a = sample_queries(qids, 10, seed=1)
    assert len(a) == 10 and a == sorted(a) and set(a) <= set(qids)
    assert sample_queries(list(reversed(qids)), 10, seed=1) == a  # depends on the set, not the order
    assert sample_queries(qids, 10, seed=2) != a
    assert sample_queries(qids, 80, seed=1) == sorted(qids)
    with pytest.raises(ConfigError):
        sample_queries(qids, 0, seed=1)


def test_heldout_documents_are_the_smallest_sha256_ranks() -> None:
    held = heldout_documents(IDS, 0.3, seed=7)
    assert len(held) == 60
    # independent recomputation from the documented rule
    ranked = sorted(IDS, key=lambda d: hashlib.sha256(f"7:{d}".encode()).hexdigest())
    assert held == frozenset(ranked[:60])
    assert heldout_documents(IDS, 0.3, seed=8) != held
    assert heldout_documents(IDS, 0.0, seed=7) == frozenset()
    with pytest.raises(ConfigError):
        heldout_documents(IDS, 1.0, seed=7)


@given(st.floats(0.05, 0.9), st.integers(0, 1000))
def test_a_larger_share_holds_out_a_superset(fraction: float, seed: int) -> None:
    small = heldout_documents(IDS, fraction / 2, seed)
    large = heldout_documents(IDS, fraction, seed)
    assert small <= large


def test_drop_and_only_documents_split_the_judgments() -> None:
    qrels = {"q1": {"a": 2, "b": 1}, "q2": {"b": 1}, "q3": {"c": 0, "a": 1}}
    assert drop_documents(qrels, {"b"}) == {"q1": {"a": 2}, "q3": {"c": 0, "a": 1}}
    # only queries keeping a relevant document count in an evaluation restricted to the documents
    assert only_documents(qrels, {"b", "c"}) == {"q1": {"b": 1}, "q2": {"b": 1}}


def test_judged_elsewhere_counts_pairs_whose_document_other_queries_judge() -> None:
    from gradedpr.data.subsets import judged_elsewhere

    test = {"t1": {"a": 1, "b": 2}, "t2": {"c": 1}}
    train = {"q1": {"a": 0}, "q2": {"c": 2, "d": 1}}
    assert judged_elsewhere(test, train) == (3, 2)
    assert judged_elsewhere(test, {}) == (3, 0)


def test_top_grade_only_keeps_the_highest_grade_and_its_queries() -> None:
    qrels = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"d": 1}, "q3": {"e": 2, "f": 2}}
    assert top_grade_only(qrels) == {"q1": {"a": 2}, "q3": {"e": 2, "f": 2}}
    assert top_grade_only({"q": {"a": 0}}) == {}  # no relevant document at all: nothing to rank
    # the top grade is the collection's, not each query's: q2's best document is only grade 1 of 3
    assert top_grade_only({"q1": {"a": 3}, "q2": {"b": 1}}) == {"q1": {"a": 3}}
