"""One training step's forward pass: encode, score all in-batch candidates, apply the loss.

Encoding is kept apart from the loss (``embed`` then ``score`` then ``loss_fn``) so that embeddings can be
gathered across processes or computed in chunks (GradCache) without touching the losses.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gradedpr.data.collator import CollatedBatch
from gradedpr.model.biencoder import BiEncoder

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def embed(model: BiEncoder, batch: CollatedBatch, passage_texts: list[str]) -> tuple[Tensor, Tensor]:
    """Query embeddings [B, H] and per-column passage embeddings [B*N, H] (unique passages encoded once)."""
    q = model.encode_queries(model.tokenize(batch.queries, "query"))
    p_unique = model.encode_passages(model.tokenize(passage_texts, "passage"))
    return q, p_unique[batch.column_to_passage.to(p_unique.device)]


def batch_loss(model: BiEncoder, batch: CollatedBatch, passage_texts: list[str], loss_fn: LossFn) -> Tensor:
    """The loss of one collated batch: ``loss_fn(scores [B, B*N], labels, mask)``."""
    q, p = embed(model, batch, passage_texts)
    scores = model.score(q, p)
    device = scores.device
    return loss_fn(scores.float(), batch.labels.to(device), batch.mask.to(device))


def grad_norm(parameters: list[torch.nn.Parameter]) -> float:
    norms = [p.grad.detach().norm(2) for p in parameters if p.grad is not None]
    return float(torch.norm(torch.stack(norms), 2)) if norms else 0.0
