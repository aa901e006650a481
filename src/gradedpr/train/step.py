"""One training step's forward pass: encode, score all in-batch candidates, apply the loss.

Encoding is kept apart from the loss (``embed`` then ``score`` then ``loss_fn``) so that embeddings can be
gathered across processes or computed in chunks (GradCache) without touching the losses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from gradedpr.data.collator import CollatedBatch, collate_groups
from gradedpr.data.corpus import Corpus
from gradedpr.data.sampler import TrainGroup
from gradedpr.losses.registry import BoundLoss
from gradedpr.model.biencoder import BiEncoder

StepFn = Callable[[Sequence[TrainGroup]], Tensor]
"""What the trainer calls once per (micro-)batch: groups -> scalar loss with its graph."""


def embed(model: BiEncoder, batch: CollatedBatch, passage_texts: list[str]) -> tuple[Tensor, Tensor]:
    """Query embeddings [B, H] and per-column passage embeddings [B*N, H] (unique passages encoded once)."""
    q = model.encode_queries(model.tokenize(batch.queries, "query"))
    p_unique = model.encode_passages(model.tokenize(passage_texts, "passage"))
    return q, p_unique[batch.column_to_passage.to(p_unique.device)]


def batch_loss(model: BiEncoder, batch: CollatedBatch, passage_texts: list[str], loss_fn: BoundLoss) -> Tensor:
    """The loss of one collated batch: ``loss_fn(scores [B, B*N], labels, mask)``."""
    q, p = embed(model, batch, passage_texts)
    scores = model.score(q, p)
    device = scores.device
    return loss_fn(scores.float(), batch.labels.to(device), batch.mask.to(device))


class InBatchStep:
    """The in-batch regime: every query against all ``B x N`` sampled candidates, both encoders training."""

    def __init__(
        self,
        model: BiEncoder,
        corpus: Corpus,
        qrels: Mapping[str, Mapping[str, int]],
        group_size: int,
        loss_fn: BoundLoss,
    ) -> None:
        self.model = model
        self.corpus = corpus
        self.qrels = qrels
        self.group_size = group_size
        self.loss_fn = loss_fn

    def __call__(self, groups: Sequence[TrainGroup]) -> Tensor:
        batch = collate_groups(groups, self.qrels, self.group_size)
        texts = [self.corpus.text(self.corpus.row(d)) for d in batch.passage_ids]
        return batch_loss(self.model, batch, texts, self.loss_fn)


def grad_norm(parameters: list[torch.nn.Parameter]) -> float:
    norms = [p.grad.detach().norm(2) for p in parameters if p.grad is not None]
    return float(torch.norm(torch.stack(norms), 2)) if norms else 0.0
