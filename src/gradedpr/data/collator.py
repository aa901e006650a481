"""Turn a batch of groups into tensors: unique passages to encode, and the in-batch label matrix and mask.

Every query is scored against all ``B x N`` candidates of the batch. Column ``c`` holds candidate ``c`` of the
flattened groups; ``labels[b, c]`` is the grade **query b's** qrels give that document (0 if unjudged), so a
document that is relevant to b but sampled for another query is never pushed down as a false negative
(DPR issue #141). A document that occurs in several columns is encoded once; for each query only one of its
columns stays valid (the one in the query's own group when there is one, else the first), the others are
masked, so duplicates never count twice in a listwise loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from gradedpr.data.sampler import TrainGroup


@dataclass
class CollatedBatch:
    """What the trainer needs for one step."""

    qids: list[str]
    queries: list[str]
    passage_ids: list[str]  # unique documents to encode, in first-appearance order
    column_to_passage: Tensor  # [B*N] long: column -> row of the encoded unique passages
    labels: Tensor  # [B, B*N] long
    mask: Tensor  # [B, B*N] bool


def collate_groups(
    groups: Sequence[TrainGroup], qrels: Mapping[str, Mapping[str, int]], group_size: int
) -> CollatedBatch:
    """Build the in-batch label matrix and mask for ``groups`` (each padded to ``group_size``)."""
    num_queries = len(groups)
    columns: list[str | None] = []
    for group in groups:
        if len(group.docids) > group_size:
            raise ValueError(f"group of {group.qid} has {len(group.docids)} documents > group_size {group_size}")
        columns.extend(group.docids)
        columns.extend([None] * (group_size - len(group.docids)))
    passage_ids: list[str] = []
    unique_row: dict[str, int] = {}
    column_to_passage = torch.zeros(len(columns), dtype=torch.long)
    for c, doc in enumerate(columns):
        if doc is None:
            continue
        if doc not in unique_row:
            unique_row[doc] = len(passage_ids)
            passage_ids.append(doc)
        column_to_passage[c] = unique_row[doc]

    labels = torch.zeros(num_queries, len(columns), dtype=torch.long)
    mask = torch.zeros(num_queries, len(columns), dtype=torch.bool)
    first_column: dict[str, int] = {}
    for c, doc in enumerate(columns):
        if doc is not None and doc not in first_column:
            first_column[doc] = c
    for b, group in enumerate(groups):
        judged = qrels.get(group.qid, {})
        own = {doc: b * group_size + i for i, doc in reversed(list(enumerate(group.docids)))}
        for doc, c in first_column.items():
            keep = own.get(doc, c)
            mask[b, keep] = True
            labels[b, keep] = int(judged.get(doc, 0))
    return CollatedBatch(
        qids=[g.qid for g in groups],
        queries=[g.query for g in groups],
        passage_ids=passage_ids,
        column_to_passage=column_to_passage,
        labels=labels,
        mask=mask,
    )
