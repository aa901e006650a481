"""Benchmark: training memory against the global batch (plain / GradCache / gradient checkpointing) and the
throughput of 2 gloo processes vs 1 on this machine.

Model: the bundled all-MiniLM-L6-v2 as two separate encoders (2 x 22.7M parameters, AdamW), train mode
(dropout on), ListNet over cosine / 0.05. Batches: ``B`` NFCorpus queries x 8 NFCorpus passages each (grades
2, 1, 0, ...), every query scored against all ``B x 8`` passages.

* **memory**: each configuration runs one full optimiser step (forward, backward, AdamW update) in a fresh
  process with 1 thread; the peak RSS is ``VmHWM`` of that process, the step's own share is the peak minus the
  RSS after loading the model and building the optimiser (with its state, allocated by a first update of a
  1-query batch). Queries 16 tokens, passages 32 tokens (short, so that the large batches finish in minutes on
  2 cores; activation memory grows linearly with the length). Plain steps stop at 64 queries: a plain
  256 x 8 step would hold about 12 GB of activations at these lengths (linear extrapolation in the table).
  CUDA peak: not measured here (no GPU on this machine); on CUDA read ``torch.cuda.max_memory_allocated()``.
* **throughput**: optimiser steps per second of a global batch of 8 and of 32 queries x 4 passages (64
  passage tokens) with 1 process x 1 thread, 2 gloo processes x 1 thread each (half the queries each;
  embeddings gathered, gradients summed over 127.0.0.1), and 1 process x 2 threads (the same 2 cores used by
  one process).
  Warm-up steps first, then the median of the timed steps; the gradient all-reduce (182 MB per step) is timed
  on its own.

Usage: ``python bench/train_parallel.py [--only memory,throughput] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine import NFCORPUS, ROOT, machine_line, write_section

GROUP = 8
THROUGHPUT_GROUP = 4
QUERY_LENGTH, PASSAGE_LENGTH = 16, 32
MEMORY_RUNS: list[dict[str, Any]] = [
    {"batch": 16, "chunk": None, "checkpointing": False},
    {"batch": 32, "chunk": None, "checkpointing": False},
    {"batch": 64, "chunk": None, "checkpointing": False},
    {"batch": 16, "chunk": None, "checkpointing": True},
    {"batch": 64, "chunk": None, "checkpointing": True},
    {"batch": 16, "chunk": 16, "checkpointing": False},
    {"batch": 64, "chunk": 16, "checkpointing": False},
    {"batch": 256, "chunk": 16, "checkpointing": False},
    {"batch": 256, "chunk": 16, "checkpointing": True},
]
QUICK_MEMORY_RUNS = [{"batch": 4, "chunk": None, "checkpointing": False},
                     {"batch": 16, "chunk": 4, "checkpointing": False}]


def _texts(count: int, kind: str) -> list[str]:
    """The first ``count`` NFCorpus queries or passages (synthetic text when NFCorpus is not there)."""
    name = "queries.jsonl" if kind == "query" else "corpus.jsonl"
    path = NFCORPUS / name
    if path.is_file():
        out = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                out.append(f"{row.get('title', '')} {row['text']}".strip())
                if len(out) == count:
                    return out
    return [f"{kind} {i} " + " ".join(f"word{(i * 7 + j) % 997}" for j in range(40)) for i in range(count)]


def make_batch(queries: int, group: int) -> tuple[Any, Any, Any]:
    """Groups, qrels and corpus: query ``i`` gets passages ``i*group .. i*group+group-1`` graded 2, 1, 0, ..."""
    from gradedpr.data.corpus import Corpus
    from gradedpr.data.sampler import TrainGroup

    query_texts = _texts(queries, "query")
    passages = _texts(queries * group, "passage")
    ids = [f"p{i}" for i in range(len(passages))]
    groups, qrels = [], {}
    for q in range(queries):
        docids = tuple(ids[q * group : (q + 1) * group])
        qrels[f"q{q}"] = {docids[0]: 2, docids[1]: 1}
        groups.append(TrainGroup(f"q{q}", query_texts[q], docids, tuple(qrels[f"q{q}"].get(d, 0) for d in docids)))
    return groups, qrels, Corpus.from_lists(ids, [""] * len(ids), passages)


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------------------------------- memory
def memory_child(config: dict[str, Any]) -> dict[str, Any]:
    """One optimiser step in this (fresh) process; peak RSS in MB."""
    import torch

    from gradedpr.losses import get_loss
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.train.step import InBatchStep

    torch.set_num_threads(1)
    torch.manual_seed(0)
    groups, qrels, corpus = make_batch(config["batch"], GROUP)
    model = BiEncoder.from_pretrained("default", query_max_length=QUERY_LENGTH, passage_max_length=PASSAGE_LENGTH)
    cuda = torch.cuda.is_available()
    model.to("cuda" if cuda else "cpu").train()
    if config["checkpointing"]:
        model.gradient_checkpointing_enable()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    step = InBatchStep(model, corpus, qrels, GROUP, get_loss("listnet"), grad_cache_chunk=config["chunk"])
    step.grad_cache_chunk = None
    step.forward_backward(groups[:1])  # one 1-query update: the optimiser state exists before the measured step
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    step.grad_cache_chunk = config["chunk"]
    loaded = _status("VmRSS")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    loss = step.forward_backward(groups)
    optimizer.step()
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    seconds = time.perf_counter() - started
    return {**config, "loss": loss, "seconds": seconds, "loaded_mb": loaded, "peak_mb": _status("VmHWM"),
            "cuda_peak_mb": cuda_peak}


def run_memory(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")])}
    results = []
    for config in runs:
        done = subprocess.run([sys.executable, __file__, "--memory-child", json.dumps(config)], env=env, check=True,
                              capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  memory {_label(result)} x {GROUP}: peak {result['peak_mb']:.0f} MB "
              f"(step {result['peak_mb'] - result['loaded_mb']:+.0f} MB), {result['seconds']:.1f} s", flush=True)
        results.append(result)
    return results


def _label(r: dict[str, Any]) -> str:
    how = "plain" if r["chunk"] is None else f"GradCache chunk {r['chunk']}"
    return f"{how}{' + checkpointing' if r['checkpointing'] else ''}, batch {r['batch']}"


def _cuda(r: dict[str, Any]) -> str:
    return "n/a" if r.get("cuda_peak_mb") is None else f"{r['cuda_peak_mb']:.0f}"


def memory_markdown(results: list[dict[str, Any]]) -> str:
    base = next(r for r in results if r["chunk"] is None and not r["checkpointing"])
    lines = [
        f"One optimiser step (forward, backward, AdamW) of B queries x {GROUP} passages, all-MiniLM-L6-v2 as two "
        f"encoders, queries {QUERY_LENGTH} / passages {PASSAGE_LENGTH} tokens, train mode, 1 thread, each row a "
        "fresh process. Peak = VmHWM; step = peak minus the RSS after loading the model and the optimiser state. "
        "CUDA peak = `torch.cuda.max_memory_allocated()` of the step where a GPU is present (n/a: none here).",
        "",
        "| configuration | global batch | passages | peak RSS (MB) | step share (MB) | peak vs plain batch "
        f"{base['batch']} | CUDA peak (MB) | step time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        how = "plain" if r["chunk"] is None else f"GradCache, chunk {r['chunk']}"
        how += " + gradient checkpointing" if r["checkpointing"] else ""
        lines.append(f"| {how} | {r['batch']} | {r['batch'] * GROUP:,} | {r['peak_mb']:.0f} | "
                     f"{r['peak_mb'] - r['loaded_mb']:.0f} | {r['peak_mb'] / base['peak_mb']:.2f}x | "
                     f"{_cuda(r)} | {r['seconds']:.1f} |")
    plain = [r for r in results if r["chunk"] is None and not r["checkpointing"]]
    cached = [r for r in results if r["chunk"] is not None and not r["checkpointing"]]
    findings = []
    if len(plain) >= 2:
        a, b = plain[0], plain[-1]
        per_query = ((b["peak_mb"] - b["loaded_mb"]) - (a["peak_mb"] - a["loaded_mb"])) / (b["batch"] - a["batch"])
        big = max((r["batch"] for r in cached), default=256)
        estimate = a["peak_mb"] + per_query * (big - a["batch"])
        findings.append(f"Plain steps grow by about {per_query:.0f} MB per query of the batch "
                        f"({per_query / GROUP:.1f} MB per passage); extrapolated, a plain batch of {big} would peak "
                        f"near {estimate / 1024:.1f} GB ({estimate / base['peak_mb']:.1f}x batch {base['batch']}).")
    if cached:
        top = max(cached, key=lambda r: r["batch"])
        ratio = top["peak_mb"] / base["peak_mb"]
        findings.append(f"**GradCache: a batch of {top['batch']} x {GROUP} peaks at {ratio:.2f}x the plain batch of "
                        f"{base['batch']}** (goal <= 1.5x): only one chunk's activations are alive at a time, plus "
                        f"the embeddings and the {top['batch']} x {top['batch'] * GROUP:,} score matrix.")
        same = [(p, c) for p in plain for c in cached if p["batch"] == c["batch"] and p["batch"] > c["chunk"]]
        if same:
            p, c = same[-1]
            findings.append(f"Time: GradCache encodes every chunk twice; at batch {p['batch']} its step took "
                            f"{c['seconds'] / p['seconds']:.2f}x the plain step ({c['seconds']:.1f} vs "
                            f"{p['seconds']:.1f} s; one run each on a shared machine, so read timings as rough).")
    checkpointed = [(p, c) for p in plain for c in results
                    if c["checkpointing"] and c["chunk"] is None and c["batch"] == p["batch"]]
    if checkpointed:
        p, c = checkpointed[-1]
        findings.append(f"Gradient checkpointing at batch {p['batch']}: step share "
                        f"{c['peak_mb'] - c['loaded_mb']:.0f} vs {p['peak_mb'] - p['loaded_mb']:.0f} MB, time "
                        f"{c['seconds'] / p['seconds']:.2f}x (one more forward pass of each layer in backward).")
    findings.append("The step share includes the gradient buffers of both encoders (182 MB), which the measured step "
                    "allocates afresh.")
    return "\n".join([*lines, "", *findings])


# ---------------------------------------------------------------------------------------------------- throughput
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def throughput_rank(rank: int, world: int, port: int, threads: int, batch: int, steps: int, warmup: int,
                    queue: Any) -> None:
    import torch

    from gradedpr.losses import get_loss
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.train.distributed import init_distributed, shutdown
    from gradedpr.train.step import InBatchStep

    torch.set_num_threads(threads)
    torch.manual_seed(rank)
    dist = init_distributed(rank, world, init_method=f"tcp://127.0.0.1:{port}", timeout_s=600)
    groups, qrels, corpus = make_batch(batch, THROUGHPUT_GROUP)
    model = BiEncoder.from_pretrained("default", query_max_length=QUERY_LENGTH, passage_max_length=64).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    step = InBatchStep(model, corpus, qrels, THROUGHPUT_GROUP, get_loss("listnet"), dist=dist)
    params = [p for p in model.parameters() if p.requires_grad]
    local = dist.local_slice(groups)
    times, reduce_times, cpu_times = [], [], []
    for i in range(warmup + steps):
        dist.barrier()
        started, cpu_started = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        step.forward_backward(local)
        reduce_started = time.perf_counter()
        dist.sum_gradients(params)
        reduce_seconds = time.perf_counter() - reduce_started
        optimizer.step()
        cpu_seconds = time.process_time() - cpu_started
        dist.barrier()
        if i >= warmup:
            times.append(time.perf_counter() - started)
            reduce_times.append(reduce_seconds)
            cpu_times.append(cpu_seconds)
    shutdown(dist)
    if rank == 0:
        queue.put({"times": times, "reduce": reduce_times, "cpu": cpu_times})


def run_throughput(world: int, threads: int, batch: int, steps: int, warmup: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=throughput_rank, args=(r, world, port, threads, batch, steps, warmup, queue))
             for r in range(world)]
    for p in procs:
        p.start()
    result = queue.get(timeout=3600)
    for p in procs:
        p.join(120)
    median = statistics.median(result["times"])
    out = {"world": world, "threads": threads, "batch": batch, "median_s": median, "times": result["times"],
           "reduce_s": statistics.median(result["reduce"]), "cpu_s": statistics.median(result["cpu"])}
    print(f"  throughput batch {batch}, {world} process(es) x {threads} thread(s): {median:.2f} s/step "
          f"(all-reduce {out['reduce_s']:.2f} s)", flush=True)
    return out


def throughput_markdown(rows: list[dict[str, Any]], load_before: tuple[float, ...]) -> str:
    lines = [
        f"Optimiser steps of one global batch of B queries x {THROUGHPUT_GROUP} passages (queries 16, passages 64 "
        "tokens), all-MiniLM-L6-v2 as two encoders, ListNet, train mode; median of the timed steps after warm-up.",
        "",
        "| global batch | processes x threads | queries per process | s / step (median) | steps / s | vs 1 x 1 "
        "| gradient all-reduce (s) | CPU s / step of rank 0 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    summary = []
    for batch in sorted({r["batch"] for r in rows}):
        same = [r for r in rows if r["batch"] == batch]
        one = next(r for r in same if r["world"] == 1 and r["threads"] == 1)
        for r in same:
            lines.append(f"| {batch} | {r['world']} x {r['threads']} | {batch // r['world']} | {r['median_s']:.2f} | "
                         f"{1 / r['median_s']:.3f} | {one['median_s'] / r['median_s']:.2f}x | "
                         f"{r['reduce_s']:.3f} | {r['cpu_s']:.2f} |")
        two = next((r for r in same if r["world"] == 2), None)
        if two is not None:
            summary.append(f"batch {batch}: **{one['median_s'] / two['median_s']:.2f}x**")
    lines += ["", "2 gloo processes vs 1 process (1 thread each), steps per second: " + "; ".join(summary) + ".",
              "", "All timings (s): " + "; ".join(
                  f"B={r['batch']} {r['world']}x{r['threads']}: " + ", ".join(f"{t:.2f}" for t in r["times"])
                  for r in rows) + ".",
              "", "CPU s / step is the processor time rank 0 used in the step (all its threads): the work one "
                  "process does, whatever the cores other jobs leave free. Each process encodes its share of the "
                  "batch, but every process also sums the gradients (gloo moves 2 x 22.7M float32 over 127.0.0.1) "
                  "and runs the AdamW update of all 45M parameters, so the fixed part of a step does not shrink "
                  "with more processes; larger batches amortise it.",
              "", f"Load average before: {', '.join(f'{x:.2f}' for x in load_before)}."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- main
def memory_section(quick: bool) -> str:
    load = os.getloadavg()
    results = run_memory(QUICK_MEMORY_RUNS if quick else MEMORY_RUNS)
    return "\n".join([memory_markdown(results), "",
                      f"Load average before: {', '.join(f'{x:.2f}' for x in load)}. {machine_line(1)}"])


def throughput_section(quick: bool) -> str:
    load = os.getloadavg()
    steps, warmup = (2, 1) if quick else (5, 2)
    rows = [run_throughput(world, threads, batch, steps, warmup) for batch in ((4,) if quick else (8, 32))
            for world, threads in ((1, 1), (2, 1), (1, 2))]
    return "\n".join([throughput_markdown(rows, load), "", machine_line(1)])


SECTIONS = {
    "memory": ("train_memory", "Training memory against the global batch: plain, GradCache, checkpointing",
               memory_section),
    "throughput": ("train_throughput", "Training throughput: 2 gloo processes vs 1", throughput_section),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="memory,throughput")
    parser.add_argument("--quick", action="store_true", help="tiny sizes; nothing written to docs/")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        print(json.dumps(memory_child(json.loads(args.memory_child))))
        return
    for name in args.only.split(","):
        section, title, run = SECTIONS[name]
        body = run(args.quick)
        print(body, flush=True)
        if not args.quick:
            write_section(section, title, body)


if __name__ == "__main__":
    main()
