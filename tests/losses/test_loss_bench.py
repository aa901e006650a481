"""Smoke test of bench/losses.py on a tiny batch (keeps the benchmark from rotting; asserts no timings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "losses.py"


def test_loss_benchmark_runs_on_a_tiny_batch() -> None:
    spec = importlib.util.spec_from_file_location("bench_losses", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run_benchmark(
        batch=2,
        group=3,
        repeats=1,
        sample_queries=1,
        sample_passages=1,
        query_length=8,
        passage_length=8,
        encoder_repeats=1,
    )
    assert [r["loss"] for r in rows] == [name for name, _ in module.VARIANTS]
    assert all(r["seconds"] > 0 and r["step_seconds"] > 0 for r in rows)
    table = module.markdown_table(rows)
    assert table.count("\n|") == len(rows) + 1
    scores, labels, mask = module.make_batch(batch=3, group=4)
    assert scores.shape == labels.shape == mask.shape == (3, 12)
    assert all(labels[b, b * 4] == 2 for b in range(3))
