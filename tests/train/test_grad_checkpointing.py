"""``model.gradient_checkpointing=true`` recomputes layer activations in backward and changes nothing else:
the same loss and gradients as the plain step with dropout active (tolerances of
:func:`dist_utils.assert_grads_close`), for separate and shared encoders, and through the trainer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from dist_utils import GROUP_SIZE, IDS, QRELS, QUERIES, assert_grads_close, corpus, global_batch, grads, load_model

from gradedpr.config.schema import TrainConfig
from gradedpr.data.negatives import RandomNegatives
from gradedpr.data.sampler import GroupSampler
from gradedpr.losses import get_loss
from gradedpr.model import BiEncoder
from gradedpr.train.step import InBatchStep
from gradedpr.train.trainer import Trainer


def step_result(model: BiEncoder, seed: int = 0) -> tuple[float, dict[str, torch.Tensor], int]:
    """Loss, gradients and how often the first query layer's attention ran (twice when recomputed; the hook
    sits inside the layer, since HF keeps the layer's own hooks outside the checkpoint)."""
    calls = {"n": 0}
    layer = model.query_encoder.encoder.layer[0].attention
    handle = layer.register_forward_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1))
    try:
        torch.manual_seed(seed)
        step = InBatchStep(model, corpus(), QRELS, GROUP_SIZE, get_loss("listnet"))
        loss = step.forward_backward(global_batch())
    finally:
        handle.remove()
    return loss, grads(model), calls["n"]


@pytest.mark.parametrize("shared", [False, True])
def test_same_gradients_with_dropout(tiny_model_dir: Path, shared: bool) -> None:
    plain_loss, plain_grads, plain_calls = step_result(load_model(tiny_model_dir, train=True, shared=shared))
    model = load_model(tiny_model_dir, train=True, shared=shared)
    model.gradient_checkpointing_enable()
    loss, got, calls = step_result(model)
    assert calls > plain_calls, "no recomputation: checkpointing is not active"
    assert loss == pytest.approx(plain_loss, rel=1e-6)
    assert_grads_close(got, plain_grads)
    assert abs(step_result(load_model(tiny_model_dir, train=True, shared=shared), seed=1)[0] - plain_loss) > 1e-4


def trained_weights(model_dir: Path, run_dir: Path, **settings: object) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = load_model(model_dir)
    if settings.pop("checkpointing", False):
        model.gradient_checkpointing_enable()
    sampler = GroupSampler(QUERIES, QRELS, IDS, RandomNegatives(), group_size=GROUP_SIZE, max_positives=2, seed=1)
    values: dict = {"batch_size": 3, "group_size": GROUP_SIZE, "max_steps": 3, "lr": 1e-3, "eval_every": 0,
                    "warmup_ratio": 0.0, "eval_at_start": False, **settings}
    trainer = Trainer(model, sampler, corpus(), get_loss("listnet"), TrainConfig(**values), run_dir,
                      show_progress=False)
    trainer.train()
    return [p.detach().clone() for p in model.parameters()]


def test_trainer_with_checkpointing_and_grad_cache_matches_the_plain_trainer(tiny_model_dir: Path,
                                                                             tmp_path: Path) -> None:
    """Three optimiser steps with dropout on: plain vs checkpointing + GradCache (one chunk per batch)."""
    want = trained_weights(tiny_model_dir, tmp_path / "plain")
    got = trained_weights(tiny_model_dir, tmp_path / "cached", checkpointing=True, grad_cache_chunk=3)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
