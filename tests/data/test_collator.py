"""In-batch label matrix: every column labelled with the row query's own qrels; duplicates and padding masked."""

from __future__ import annotations

import torch

from gradedpr.data.collator import collate_groups
from gradedpr.data.sampler import TrainGroup

QRELS = {
    "qa": {"a1": 2, "shared": 1},
    "qb": {"b1": 2, "a1": 1},  # a1 is relevant to qb too: sampled for qa it must be labelled 1 in qb's row
}


def test_labels_use_each_rows_qrels_and_duplicates_are_masked() -> None:
    groups = [
        TrainGroup("qa", "query a", ("a1", "shared", "n1"), (2, 1, 0)),
        TrainGroup("qb", "query b", ("b1", "shared", "a1"), (2, 0, 1)),
    ]
    batch = collate_groups(groups, QRELS, group_size=3)
    assert batch.passage_ids == ["a1", "shared", "n1", "b1"]
    assert batch.column_to_passage.tolist() == [0, 1, 2, 3, 1, 0]
    # columns: qa group (a1, shared, n1), qb group (b1, shared, a1)
    expected_mask = torch.tensor(
        [
            [True, True, True, True, False, False],  # qa keeps its own copies of a1 and shared
            [False, False, True, True, True, True],  # qb keeps its own copies of shared and a1
        ]
    )
    assert torch.equal(batch.mask, expected_mask)
    expected_labels = torch.tensor(
        [
            [2, 1, 0, 0, 0, 0],
            [0, 0, 0, 2, 0, 1],
        ]
    )
    assert torch.equal(batch.labels, expected_labels)
    # each document is valid exactly once per row
    for b in range(2):
        valid_docs = [batch.passage_ids[int(batch.column_to_passage[c])] for c in range(6) if batch.mask[b, c]]
        assert len(valid_docs) == len(set(valid_docs)) == 4


def test_document_relevant_to_other_query_is_not_a_false_negative() -> None:
    groups = [
        TrainGroup("qa", "query a", ("a1", "x"), (2, 0)),
        TrainGroup("qb", "query b", ("b1", "y"), (2, 0)),
    ]
    batch = collate_groups(groups, QRELS, group_size=2)
    # qb's row: a1 (sampled for qa) is judged 1 for qb
    assert batch.labels[1, 0].item() == 1
    assert batch.mask[1, 0].item()


def test_short_groups_are_padded_and_masked() -> None:
    groups = [TrainGroup("qa", "query a", ("a1",), (2,)), TrainGroup("qb", "query b", ("b1", "z"), (2, 0))]
    batch = collate_groups(groups, QRELS, group_size=3)
    assert batch.labels.shape == (2, 6)
    assert not batch.mask[:, 1].any() and not batch.mask[:, 2].any()
    assert batch.labels[:, 1:3].eq(0).all()
    assert batch.mask[:, [0, 3, 4]].all()
