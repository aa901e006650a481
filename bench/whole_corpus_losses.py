"""Benchmark: forward + backward of the NDCG surrogates on whole-corpus lists (the frozen regime's lists):
16 queries x 3,633 documents (NFCorpus's size), 40 judged documents a query with grades 1-2, scores
cosine / 0.05 scale. Shows that the judged x corpus computations (ApproxNDCG, LambdaLoss) and NeuralNDCG@k
without Sinkhorn make every surrogate affordable next to a step's query encoding.

Usage: ``python bench/whole_corpus_losses.py [--threads 1] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gradedpr.losses import get_loss

BATCH, DOCS, JUDGED = 16, 3633, 40
TITLE = "NDCG surrogates on whole-corpus lists"
LOSSES = [("graded_infonce", {}), ("listmle", {"relevant_only": True}), ("neural_ndcg", {"k": 10, "max_iter": 0}),
          ("approx_ndcg", {}), ("lambdaloss", {})]


def run_benchmark(repeats: int, threads: int) -> list[tuple[str, str, float]]:
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(BATCH, DOCS, generator=generator) * 5
    labels = torch.zeros(BATCH, DOCS, dtype=torch.long)
    for b in range(BATCH):
        labels[b, torch.randperm(DOCS, generator=generator)[:JUDGED]] = torch.randint(1, 3, (JUDGED,),
                                                                                   generator=generator)
    mask = torch.ones(BATCH, DOCS, dtype=torch.bool)
    rows = []
    for name, kwargs in LOSSES:
        loss = get_loss(name, **kwargs)
        times = []
        for _ in range(repeats):
            leaf = scores.clone().requires_grad_()
            began = time.perf_counter()
            loss(leaf, labels, mask).backward()
            times.append(time.perf_counter() - began)
        settings = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"
        rows.append((name, settings, statistics.median(times)))
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = run_benchmark(args.repeats, args.threads)
    from machine import write_section

    print(write_section("whole_corpus_losses", TITLE, body(rows, args.threads)))


def body(rows: list[tuple[str, str, float]], threads: int) -> str:
    from machine import machine_line

    table = "\n".join(["| loss | settings | forward + backward (s, median) |", "|---|---|---:|",
                       *(f"| {n} | {s} | {t:.3f} |" for n, s, t in rows)])
    return (f"{BATCH} queries x {DOCS:,} documents, {JUDGED} judged a query (grades 1-2), random scores x 5.\n\n"
            + table + "\n\n" + machine_line(threads))


if __name__ == "__main__":
    main()
