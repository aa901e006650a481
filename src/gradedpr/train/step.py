"""One training step of the in-batch regime, in pieces: collate -> embed -> gather -> score -> loss.

* **collate**: this process's groups become the queries and unique passages it encodes; the label matrix
  and mask are built over the **global** batch (every process's groups, in rank order) from each query's
  own qrels, with the rules of :func:`~gradedpr.data.collator.collate_groups`: a document relevant to query
  ``b`` but sampled by another process is labelled with ``b``'s grade, and a document drawn twice (by one
  process or by two) is valid in one column per query only.
* **embed**: query embeddings ``[b, H]`` and per-column passage embeddings ``[b*N, H]`` of the local groups.
* **gather**: all processes' rows in rank order (:meth:`~gradedpr.train.distributed.Dist.gather_rows`; only
  the local rows keep their graph). With one process this is the identity.
* **score + loss**: ``loss_fn(scores [B, B*N], labels, mask)`` over the global batch, the same value on every
  process and the same as one process computing the whole batch.

:meth:`InBatchStep.forward_backward` runs the step with its backward pass, either plainly or with GradCache
(:mod:`gradedpr.train.grad_cache`, ``grad_cache_chunk`` queries per chunk), which takes the same pieces.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch
from torch import Tensor

from gradedpr.data.collator import CollatedBatch, collate_groups
from gradedpr.data.corpus import Corpus
from gradedpr.data.sampler import TrainGroup
from gradedpr.losses.registry import BoundLoss
from gradedpr.model.biencoder import BiEncoder
from gradedpr.train.distributed import Dist
from gradedpr.train.grad_cache import RngState, chunk_bounds
from gradedpr.utils.device import autocast

StepFn = Callable[[Sequence[TrainGroup]], Tensor]
"""What the trainer calls once per (micro-)batch: groups -> scalar loss with its graph."""


def embed(model: BiEncoder, batch: CollatedBatch, passage_texts: list[str]) -> tuple[Tensor, Tensor]:
    """Query embeddings [B, H] and per-column passage embeddings [B*N, H] (unique passages encoded once)."""
    if not batch.queries:  # a process whose share of a short last batch is empty
        empty = torch.zeros(0, model.dim, device=model.device)
        return empty, empty
    q = model.encode_queries(model.tokenize(batch.queries, "query"))
    p_unique = model.encode_passages(model.tokenize(passage_texts, "passage"))
    return q, p_unique[batch.column_to_passage.to(p_unique.device)]


@dataclass
class PreparedBatch:
    """One step's inputs on one process: what it encodes (``local``) and what the loss sees (global)."""

    local: CollatedBatch
    passage_texts: list[str]  # texts of local.passage_ids
    labels: Tensor  # [B, B*N] over the global batch
    mask: Tensor  # [B, B*N]
    query_counts: list[int] = field(default_factory=list)  # queries per rank
    global_batch: CollatedBatch | None = None

    @property
    def seed(self) -> int:
        """A seed that every process derives alike from the global batch (its query and passage ids)."""
        batch = self.global_batch or self.local
        return zlib.crc32("\n".join([*batch.qids, "", *batch.passage_ids]).encode("utf-8"))


class InBatchStep:
    """The in-batch regime: every query against all ``B x N`` sampled candidates, both encoders training.

    ``dist``: the process group (one process by default); the groups passed in are then this process's
    share of the global batch. ``grad_cache_chunk``: queries per GradCache chunk (passages: that many
    groups' worth, ``chunk * group_size``); ``None`` = the plain step.
    """

    def __init__(
        self,
        model: BiEncoder,
        corpus: Corpus,
        qrels: Mapping[str, Mapping[str, int]],
        group_size: int,
        loss_fn: BoundLoss,
        *,
        dist: Dist | None = None,
        grad_cache_chunk: int | None = None,
        bf16: bool = False,
    ) -> None:
        self.model = model
        self.corpus = corpus
        self.qrels = qrels
        self.group_size = group_size
        self.loss_fn = loss_fn
        self.dist = dist or Dist()
        self.grad_cache_chunk = grad_cache_chunk
        self.bf16 = bf16

    # ------------------------------------------------------------------ the pieces
    def prepare(self, groups: Sequence[TrainGroup]) -> PreparedBatch:
        """Collate the local groups; labels and mask over every process's groups (rank order)."""
        local = collate_groups(groups, self.qrels, self.group_size)
        texts = [self.corpus.text(self.corpus.row(d)) for d in local.passage_ids]
        if not self.dist.enabled:
            return PreparedBatch(local, texts, local.labels, local.mask, [len(groups)], local)
        shares = self.dist.all_gather_object(list(groups), "gathering the groups of the global batch")
        everyone = [g for share in shares for g in share]
        full = collate_groups(everyone, self.qrels, self.group_size)
        return PreparedBatch(local, texts, full.labels, full.mask, [len(s) for s in shares], full)

    def embed(self, prepared: PreparedBatch) -> tuple[Tensor, Tensor]:
        """Local query embeddings ``[b, H]`` and per-column passage embeddings ``[b*N, H]``, with graph."""
        with autocast(self.model.device, self.bf16):
            return embed(self.model, prepared.local, prepared.passage_texts)

    def loss_from_embeddings(self, q_local: Tensor, p_local: Tensor, prepared: PreparedBatch) -> Tensor:
        """Gather every process's embeddings, score all queries against all columns, apply the loss."""
        q = self.dist.gather_rows(q_local, prepared.query_counts, "gathering query embeddings")
        p = self.dist.gather_rows(p_local, [n * self.group_size for n in prepared.query_counts],
                                  "gathering passage embeddings")
        scores = self.model.score(q, p).float()
        device = scores.device
        if not self.dist.enabled:
            return self.loss_fn(scores, prepared.labels.to(device), prepared.mask.to(device))
        # A loss that draws random numbers (xe_ndcg's gammas, listmle's random tie-break) must draw the same ones
        # in every process, or each would backpropagate another loss: seed them from the batch's ids.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(prepared.seed)
            return self.loss_fn(scores, prepared.labels.to(device), prepared.mask.to(device))

    def __call__(self, groups: Sequence[TrainGroup]) -> Tensor:
        """The loss with its graph (plain forward; :meth:`forward_backward` is what the trainer runs)."""
        prepared = self.prepare(groups)
        return self.loss_from_embeddings(*self.embed(prepared), prepared)

    # ------------------------------------------------------------------ forward + backward
    def forward_backward(self, groups: Sequence[TrainGroup], scale: float = 1.0) -> float:
        """Backpropagate ``scale * loss`` into the parameters (accumulating); return the unscaled loss.

        Raises ``FloatingPointError`` before any backward pass when the loss is not finite (the same on
        every process, since every process computes the same global loss).
        """
        prepared = self.prepare(groups)
        if self.grad_cache_chunk is not None:
            return self._cached_forward_backward(prepared, scale, self.grad_cache_chunk)
        loss = self.loss_from_embeddings(*self.embed(prepared), prepared)
        _check_finite(loss)
        if loss.requires_grad:  # not when this process encoded nothing (an empty share of a short batch)
            (loss * scale).backward()
        return float(loss.detach())

    def _cached_forward_backward(self, prepared: PreparedBatch, scale: float, chunk: int) -> float:
        """GradCache (Gao et al. 2021; :mod:`gradedpr.train.grad_cache`)."""
        model, local = self.model, prepared.local
        device = model.device
        q_bounds = chunk_bounds(len(local.queries), chunk)
        p_bounds = chunk_bounds(len(prepared.passage_texts), chunk * self.group_size)
        q_inputs = [model.tokenize(local.queries[s:e], "query") for s, e in q_bounds]
        p_inputs = [model.tokenize(prepared.passage_texts[s:e], "passage") for s, e in p_bounds]
        # 1. every chunk without a graph, remembering the RNG state it started from
        q_states, p_states = [], []
        q_parts = [torch.zeros(0, model.dim, device=device)]
        p_parts = [torch.zeros(0, model.dim, device=device)]
        with torch.no_grad(), autocast(device, self.bf16):
            for inputs in q_inputs:
                q_states.append(RngState.capture(device))
                q_parts.append(model.encode_queries(inputs).float())
            for inputs in p_inputs:
                p_states.append(RngState.capture(device))
                p_parts.append(model.encode_passages(inputs).float())
        # 2. the full-batch loss on leaf embeddings, and its gradient with respect to them
        q_leaf = torch.cat(q_parts).requires_grad_(bool(q_inputs))
        p_leaf = torch.cat(p_parts).requires_grad_(bool(p_inputs))
        columns = local.column_to_passage.to(device)
        loss = self.loss_from_embeddings(q_leaf, p_leaf[columns], prepared)
        _check_finite(loss)
        if not loss.requires_grad:
            return float(loss.detach())
        (loss * scale).backward()
        # 3. each chunk again, with its graph and the same dropout masks, pushed by the cached gradients
        encoders = [(q_inputs, q_states, q_bounds, q_leaf, model.encode_queries),
                    (p_inputs, p_states, p_bounds, p_leaf, model.encode_passages)]
        for inputs_list, states, bounds, leaf, encode in encoders:
            for inputs, state, (start, end) in zip(inputs_list, states, bounds, strict=True):
                assert leaf.grad is not None
                with state.replay(), autocast(device, self.bf16):
                    emb = encode(inputs).float()
                emb.backward(leaf.grad[start:end])
        return float(loss.detach())


def _check_finite(loss: Tensor) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite loss: {loss.item()}")


def run_step(
    step: StepFn,
    groups: Sequence[TrainGroup],
    scale: float,
    precision: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
) -> float:
    """Forward + backward of one (micro-)batch by any step: :meth:`InBatchStep.forward_backward` when the
    step has one (it applies its own bf16 setting), else ``step(groups)`` computed under ``precision()`` and
    ``scale`` times it backpropagated here. Returns the unscaled loss."""
    forward_backward = getattr(step, "forward_backward", None)
    if forward_backward is not None:
        return float(forward_backward(groups, scale))
    with precision():
        loss = step(groups)
    _check_finite(loss)
    (loss * scale).backward()
    return float(loss.detach())


def grad_norm(parameters: list[torch.nn.Parameter]) -> float:
    norms = [p.grad.detach().norm(2) for p in parameters if p.grad is not None]
    return float(torch.norm(torch.stack(norms), 2)) if norms else 0.0
