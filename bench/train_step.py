"""Benchmark: one training step of gradedpr's dual encoder vs a plain transformers loop with the same loss.

Batch: ``--queries`` NFCorpus test queries (max 32 tokens) x ``--group`` NFCorpus passages each (max 128
tokens, in-batch: every query is scored against all passages), grades 2, 1, 0, 0, ... within its own group.
Loss: ListNet with 2^y - 1 gain targets over cosine / 0.05 scores.

* gradedpr: ``BiEncoder.tokenize`` + ``encode_queries`` / ``encode_passages`` + ``score`` +
  ``gradedpr.losses.get_loss("listnet")``;
* plain: two ``transformers.AutoModel`` copies of the same weights, the tokenizer, mean pooling, L2
  normalisation, ``q @ p.T / 0.05`` and the same cross-entropy written out in torch.

A step is zero_grad + forward + backward (train mode, dropout on); both sides run alternately, best of
``--repeats``. gradedpr trains with stock PyTorch kernels (no patched modules), so the ratio shows the overhead
of its step (tokenisation, label matrix, scoring) over the bare loop.
Before timing, one step in eval mode checks that both compute the same loss. The FLOP share
counts 3x the forward matrix-product FLOPs of the real tokens (backward = 2x forward) against the torch
matmul peak measured in the same run.

Usage: ``python bench/train_step.py [--queries 4] [--group 4] [--threads 1] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from machine import NFCORPUS, bert_forward_flops, best_time, machine_line, matmul_peak, nfcorpus_texts, write_section

QUERY_LENGTH = 32
PASSAGE_LENGTH = 128
TEMPERATURE = 0.05


def _queries(count: int) -> list[str]:
    lines = (NFCORPUS / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:count]]


def _labels(queries: int, group: int) -> Tensor:
    labels = torch.zeros(queries, queries * group)
    for q in range(queries):
        labels[q, q * group] = 2.0
        if group > 1:
            labels[q, q * group + 1] = 1.0
    return labels


def run_benchmark(queries: int = 4, group: int = 4, threads: int = 1, repeats: int = 5) -> dict[str, Any]:
    """Time both training steps; return seconds, ratio and FLOP shares."""
    from transformers import AutoModel, AutoTokenizer

    from gradedpr.losses import get_loss
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.model.resolve import bundled_minilm_path

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        path = str(bundled_minilm_path())
        query_texts = _queries(queries)
        passage_texts = nfcorpus_texts(queries * group)
        labels, mask = _labels(queries, group), torch.ones(queries, queries * group, dtype=torch.bool)

        ours = BiEncoder.from_pretrained(path, query_max_length=QUERY_LENGTH, passage_max_length=PASSAGE_LENGTH,
                                         temperature=TEMPERATURE, pooling="mean", similarity="cosine")
        listnet = get_loss("listnet")
        tokenizer = AutoTokenizer.from_pretrained(path)
        plain_q = AutoModel.from_pretrained(path, add_pooling_layer=False)
        plain_p = AutoModel.from_pretrained(path, add_pooling_layer=False)

        def our_step() -> Tensor:
            ours.zero_grad(set_to_none=True)
            q = ours.encode_queries(ours.tokenize(query_texts, "query"))
            p = ours.encode_passages(ours.tokenize(passage_texts, "passage"))
            loss = listnet(ours.score(q, p), labels, mask)
            loss.backward()
            return loss.detach()

        def embed(model: Any, texts: list[str], length: int) -> Tensor:
            batch = tokenizer(texts, padding=True, truncation=True, max_length=length, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            weights = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return F.normalize((hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9), dim=-1)

        def plain_step() -> Tensor:
            plain_q.zero_grad(set_to_none=True)
            plain_p.zero_grad(set_to_none=True)
            scores = embed(plain_q, query_texts, QUERY_LENGTH) @ embed(plain_p, passage_texts, PASSAGE_LENGTH).T
            gains = torch.pow(2.0, labels) - 1.0
            target = gains / gains.sum(dim=-1, keepdim=True)
            loss = -(target * torch.log_softmax(scores / TEMPERATURE, dim=-1)).sum(-1).mean()
            loss.backward()
            return loss.detach()

        for module in (ours, plain_q, plain_p):
            module.eval()
        same_loss = (float(our_step()), float(plain_step()))
        for module in (ours, plain_q, plain_p):
            module.train()
        our_step()
        plain_step()  # warm-up in train mode
        variants: list[tuple[str, Callable[[], Tensor]]] = [("gradedpr", our_step), ("plain transformers", plain_step)]
        times: dict[str, list[float]] = {name: [] for name, _ in variants}
        for repeat in range(repeats):  # rotate the order so that no variant always runs first
            shift = repeat % len(variants)
            for name, step in variants[shift:] + variants[:shift]:
                times[name].append(best_time(step)[0])
        best = {name: min(values) for name, values in times.items()}

        config = plain_q.config
        q_tokens = tokenizer(query_texts, truncation=True, max_length=QUERY_LENGTH)["input_ids"]
        p_tokens = tokenizer(passage_texts, truncation=True, max_length=PASSAGE_LENGTH)["input_ids"]
        lengths = [len(t) for t in q_tokens] + [len(t) for t in p_tokens]
        flops = 3 * bert_forward_flops(lengths, config.num_hidden_layers, config.hidden_size,
                                       config.intermediate_size)
        peak = matmul_peak(threads)
        return {
            "queries": queries,
            "passages": queries * group,
            "threads": threads,
            "seconds": best,
            "all_times": times,
            "speedup": best["plain transformers"] / best["gradedpr"],
            "gflop": flops / 1e9,
            "gflops": {name: flops / s / 1e9 for name, s in best.items()},
            "peak_gflops": peak,
            "eval_mode_losses": same_loss,
            "load": os.getloadavg(),
        }
    finally:
        torch.set_num_threads(previous)


def markdown(result: dict[str, Any]) -> str:
    plain = result["seconds"]["plain transformers"]
    lines = [
        f"{result['queries']} queries (<= {QUERY_LENGTH} tokens) x {result['passages']} in-batch passages "
        f"({PASSAGE_LENGTH} tokens), two all-MiniLM-L6-v2 encoders, ListNet (2^y - 1 targets) on cosine / "
        f"{TEMPERATURE}, zero_grad + forward + backward, float32, {result['threads']} torch thread(s); "
        f"{result['gflop']:.1f} GFLOP per step (3 x forward, real tokens). Matmul peak in the same run: "
        f"{result['peak_gflops']:.0f} GFLOP/s.",
        "",
        "| training step | seconds (best) | vs plain | GFLOP/s | share of matmul peak |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, seconds in result["seconds"].items():
        gflops = result["gflops"][name]
        lines.append(f"| {name} | {seconds:.3f} | {plain / seconds:.2f}x | {gflops:.0f} | "
                     f"{100 * gflops / result['peak_gflops']:.0f}% |")
    loss_ours, loss_plain = result["eval_mode_losses"]
    lines += [
        "",
        f"**gradedpr / plain transformers: {result['speedup']:.2f}x** (target >= 0.97x). Same loss in eval mode: "
        f"{loss_ours:.6f} vs {loss_plain:.6f}. All timings (s): " + "; ".join(
            f"{k} {', '.join(f'{t:.3f}' for t in v)}" for k, v in result["all_times"].items()) + ".",
        "",
        machine_line(result["threads"], result.get("load")),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = run_benchmark(args.queries, args.group, args.threads, args.repeats)
    text = markdown(result)
    print(text)
    write_section("train_step", "Training step: gradedpr vs a plain transformers loop", text)


if __name__ == "__main__":
    main()
