"""GradCache (``train.grad_cache_chunk``) gives the plain step's loss and gradients, dropout included (issue 10).

Without dropout (eval mode) every chunk size equals the plain step. With dropout the masks depend on the shapes
a forward pass draws them for, so a chunked forward is compared with the plain step when the chunk is the
whole batch, and otherwise with a plain (full-graph) step that runs its encoders chunk by chunk -- the forward
pass GradCache scores; switching the RNG replay off must then break the equality. Tolerances: losses rtol 1e-5 /
atol 1e-6, gradients as in :func:`dist_utils.assert_grads_close`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from dist_utils import GROUP_SIZE, QRELS, assert_grads_close, corpus, global_batch, grads, load_model

from gradedpr.losses import get_loss
from gradedpr.train import grad_cache
from gradedpr.train.grad_cache import chunk_bounds
from gradedpr.train.step import InBatchStep

LOSS_TOL = {"rtol": 1e-5, "atol": 1e-6}


def make_step(model_dir: Path, chunk: int | None, *, loss: str = "listnet", train: bool = False,
              checkpointing: bool = False, shared: bool = False) -> InBatchStep:
    model = load_model(model_dir, train=train, shared=shared)
    if checkpointing:
        model.gradient_checkpointing_enable()
    return InBatchStep(model, corpus(), QRELS, GROUP_SIZE, get_loss(loss), grad_cache_chunk=chunk)


def run(step: InBatchStep, seed: int = 0) -> tuple[float, dict[str, torch.Tensor]]:
    torch.manual_seed(seed)
    loss = step.forward_backward(global_batch())
    return loss, grads(step.model)


def assert_same(got: tuple[float, dict[str, torch.Tensor]], want: tuple[float, dict[str, torch.Tensor]]) -> None:
    torch.testing.assert_close(torch.tensor(got[0]), torch.tensor(want[0]), **LOSS_TOL)
    assert_grads_close(got[1], want[1])


@pytest.mark.parametrize("loss", ["listnet", "nll", "lambdaloss"])
@pytest.mark.parametrize("chunk", [1, 2, 4, 6])
def test_every_chunk_size_equals_the_plain_step(tiny_model_dir: Path, chunk: int, loss: str) -> None:
    want = run(make_step(tiny_model_dir, None, loss=loss))
    assert_same(run(make_step(tiny_model_dir, chunk, loss=loss)), want)


def test_shared_encoder(tiny_model_dir: Path) -> None:
    want = run(make_step(tiny_model_dir, None, shared=True))
    assert_same(run(make_step(tiny_model_dir, 2, shared=True)), want)


def test_with_dropout_one_chunk_of_the_whole_batch_is_the_plain_step(tiny_model_dir: Path) -> None:
    want = run(make_step(tiny_model_dir, None, train=True))
    assert_same(run(make_step(tiny_model_dir, 6, train=True)), want)
    assert abs(run(make_step(tiny_model_dir, None, train=True), seed=1)[0] - want[0]) > 1e-4  # dropout is on


def chunked_plain_step(step: InBatchStep, chunk: int, seed: int = 0) -> tuple[float, dict[str, torch.Tensor]]:
    """The plain step with a full graph, its encoders run chunk by chunk in GradCache's order."""
    torch.manual_seed(seed)
    model, prepared = step.model, step.prepare(global_batch())
    queries, texts = prepared.local.queries, prepared.passage_texts
    q = torch.cat([model.encode_queries(model.tokenize(queries[s:e], "query"))
                   for s, e in chunk_bounds(len(queries), chunk)])
    p = torch.cat([model.encode_passages(model.tokenize(texts[s:e], "passage"))
                   for s, e in chunk_bounds(len(texts), chunk * GROUP_SIZE)])
    loss = step.loss_from_embeddings(q, p[prepared.local.column_to_passage], prepared)
    loss.backward()
    return float(loss.detach()), grads(model)


@contextlib.contextmanager
def no_replay(self: grad_cache.RngState) -> Iterator[None]:
    yield


def test_with_dropout_small_chunks_replay_the_masks(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    want = chunked_plain_step(make_step(tiny_model_dir, None, train=True), 2)
    assert_same(run(make_step(tiny_model_dir, 2, train=True)), want)
    monkeypatch.setattr(grad_cache.RngState, "replay", no_replay)
    loss, broken = run(make_step(tiny_model_dir, 2, train=True))
    assert loss == pytest.approx(want[0], rel=1e-6)  # the loss comes from the first (no-graph) pass
    difference = max(float((broken[n] - g).abs().max()) for n, g in want[1].items())
    assert difference > 1e-3, "re-encoding with other dropout masks should change the gradient"


def test_with_gradient_checkpointing_and_dropout(tiny_model_dir: Path) -> None:
    want = run(make_step(tiny_model_dir, None, train=True))
    assert_same(run(make_step(tiny_model_dir, 6, train=True, checkpointing=True)), want)


