"""The start-model guard: keep the trained model only when it beats the start model on dev by a paired test."""

from __future__ import annotations

import numpy as np

from gradedpr.evaluation.significance import randomization_test
from gradedpr.train.guard import guard

QIDS = [f"q{i:03d}" for i in range(200)]


def values(rng: np.random.Generator, shift: float, noise: float) -> tuple[dict[str, float], dict[str, float]]:
    start = rng.uniform(0.1, 0.7, len(QIDS))
    trained = np.clip(start + shift + rng.normal(0, noise, len(QIDS)), 0, 1)
    return dict(zip(QIDS, start.tolist(), strict=True)), dict(zip(QIDS, trained.tolist(), strict=True))


def test_a_clear_gain_is_kept_with_the_randomisation_p_value() -> None:
    start, trained = values(np.random.default_rng(0), 0.05, 0.05)
    decision = guard(start, trained, level=0.05)
    assert decision.keep_trained and decision.diff > 0.04
    a = [trained[q] for q in QIDS]
    b = [start[q] for q in QIDS]
    assert decision.p == randomization_test(a, b, 10000, 0)
    assert decision.queries == 200 and "keeps the trained model" in decision.describe("ndcg@10")


def test_noise_and_losses_keep_the_start_model() -> None:
    start, trained = values(np.random.default_rng(1), 0.0, 0.05)
    decision = guard(start, trained, level=0.05)
    assert not decision.keep_trained and decision.p >= 0.05
    start, trained = values(np.random.default_rng(2), -0.05, 0.05)
    decision = guard(start, trained, level=0.05)
    assert decision.p < 0.05 and decision.diff < 0 and not decision.keep_trained  # significant, but worse
    assert "START" in decision.describe("ndcg@10")


def test_identical_models_keep_the_start_model() -> None:
    start, _ = values(np.random.default_rng(3), 0.0, 0.0)
    decision = guard(start, dict(start), level=1.0)
    assert decision.p == 1.0 and not decision.keep_trained
