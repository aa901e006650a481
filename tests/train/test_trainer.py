"""The training loop on a tiny random BERT: it learns, logs, checkpoints, and resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gradedpr.config.schema import TrainConfig
from gradedpr.data.corpus import Corpus
from gradedpr.data.negatives import RandomNegatives
from gradedpr.data.sampler import GroupSampler
from gradedpr.encode.batching import encode_texts
from gradedpr.losses import get_loss
from gradedpr.model import BiEncoder
from gradedpr.train.step import InBatchStep
from gradedpr.train.trainer import Trainer

N_DOCS = 24
IDS = [f"d{i}" for i in range(N_DOCS)]
TOPICS = ["apple", "banana", "cherry", "grape", "lemon", "mango"]
TEXTS = [f"{TOPICS[i % 6]} fact number {i} about {TOPICS[i % 6]}" for i in range(N_DOCS)]
CODES = ["red", "green", "blue", "black", "white", "pink"]  # queries share no word with their documents
QUERIES = {f"q{t}": f"{code} {code}" for t, code in enumerate(CODES)}
QRELS = {f"q{t}": {IDS[i]: (2 if i == t else 1) for i in range(t, N_DOCS, 6)} for t in range(6)}


def auc(model: BiEncoder) -> float:
    """Share of (relevant, non-relevant) document pairs a query ranks correctly: a cheap dev metric."""
    q = torch.tensor(encode_texts(model, list(QUERIES.values()), "query"))
    p = torch.tensor(encode_texts(model, TEXTS, "passage"))
    scores = q @ p.T
    rel = torch.tensor([[QRELS[qid].get(d, 0) > 0 for d in IDS] for qid in QUERIES])
    correct = [
        float((scores[i][rel[i]][:, None] > scores[i][~rel[i]][None, :]).float().mean())
        for i in range(len(QUERIES))
    ]
    return sum(correct) / len(correct)


def make_trainer(model_dir: Path, run_dir: Path, **overrides: object) -> Trainer:
    torch.manual_seed(0)
    model = BiEncoder.from_pretrained(model_dir, temperature=0.05)
    corpus = Corpus.from_lists(IDS, [""] * N_DOCS, TEXTS)
    sampler = GroupSampler(QUERIES, QRELS, IDS, RandomNegatives(), group_size=4, max_positives=2, seed=1)
    values: dict = {"batch_size": 3, "group_size": 4, "max_steps": 6, "lr": 1e-3, "eval_every": 3,
                    "warmup_ratio": 0.0}
    values.update(overrides)
    return Trainer(model, sampler, corpus, get_loss("listnet"), TrainConfig(**values), run_dir,
                   evaluate=lambda m: {"auc": auc(m)}, show_progress=False)


def test_training_improves_logs_and_checkpoints(tiny_model_dir: Path, tmp_path: Path) -> None:
    trainer = make_trainer(tiny_model_dir, tmp_path, max_steps=20, eval_every=10, eval_metric="auc")
    result = trainer.train()
    assert result.steps == 20
    assert [e["step"] for e in result.evaluations] == [0, 10, 20]
    first, last = result.evaluations[0]["dev/auc"], result.evaluations[-1]["dev/auc"]
    assert last > first + 0.1
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    assert len(losses) == 20 and all(loss == loss for loss in losses)
    assert any("dev/auc" in r for r in records)
    assert (tmp_path / "checkpoints" / "best" / "gradedpr.json").exists()
    assert (tmp_path / "checkpoints" / "last" / "trainer_state.pt").exists()
    assert result.best_step is not None and result.best_metric == max(
        e["dev/auc"] for e in result.evaluations
    )
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["steps"] == 20 and summary["skipped_queries"] == 0


class Interrupt(Exception):
    pass


def test_resume_continues_exactly(tiny_model_dir: Path, tmp_path: Path) -> None:
    straight = make_trainer(tiny_model_dir, tmp_path / "a", save_every=2, eval_every=0)
    straight.train()
    expected = [p.detach().clone() for p in straight.model.parameters()]

    interrupted = make_trainer(tiny_model_dir, tmp_path / "b", save_every=2, eval_every=0)
    calls = {"n": 0}
    step = interrupted.step_fn
    assert isinstance(step, InBatchStep)
    loss = step.loss_fn

    def crashing(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 4:  # dies during step 4, after checkpoints/last was written at step 2
            raise Interrupt
        return loss(scores, labels, mask)

    step.loss_fn = crashing
    with pytest.raises(Interrupt):
        interrupted.train()
    last = tmp_path / "b" / "checkpoints" / "last"
    assert json.loads((last / "training_info.json").read_text())["step"] == 2

    resumed = make_trainer(last, tmp_path / "b", save_every=2, eval_every=0)
    resumed.resume(last)
    assert resumed.step == 2
    resumed.train()
    for got, want in zip(resumed.model.parameters(), expected, strict=True):
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-6)
    # the summary's seconds are both processes' training time: the first one's came with the trainer state
    summary = json.loads((tmp_path / "b" / "train_summary.json").read_text())
    assert summary["seconds_before_resume"] > 0
    assert summary["seconds"] > summary["seconds_before_resume"]


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)


def test_resuming_a_finished_run_returns_without_training(tiny_model_dir: Path, tmp_path: Path) -> None:
    done = make_trainer(tiny_model_dir, tmp_path, max_steps=2, eval_every=0)
    done.train()
    last = tmp_path / "checkpoints" / "last"
    again = make_trainer(last, tmp_path, max_steps=2, eval_every=0)
    again.resume(last)
    before = [p.detach().clone() for p in again.model.parameters()]
    result = again.train()  # was UnboundLocalError: the loop never ran
    assert result.steps == 2
    for got, want in zip(again.model.parameters(), before, strict=True):
        assert torch.equal(got.detach(), want)


def test_logged_grad_norm_is_the_norm_before_clipping(tiny_model_dir: Path, tmp_path: Path) -> None:
    trainer = make_trainer(tiny_model_dir, tmp_path, max_steps=1, eval_every=0, max_grad_norm=1e-6,
                           eval_at_start=False)
    trainer.train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    norm = next(r["train/grad_norm"] for r in records if "train/grad_norm" in r)
    assert norm > 1e-3  # far above the clipping threshold: logged before clipping
