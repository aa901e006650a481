"""Benchmark: a frozen-regime training step against corpora of 10k to 1M documents, whole-corpus lists vs
bounded lists (issue 18 item 2).

Modes (one subprocess each, so that peak RSS is the mode's own):
* ``corpus``: every query scored against every document (the N x dim matrix in memory, a B x N score matrix);
* ``topk-exact``: top-k by an exact scan of the on-disk store (read in blocks) + judged + m uniform draws with
  the sampled-softmax correction;
* ``topk-hnsw``: the same lists with the top-k from an HNSW index built once over the store (build time shown
  apart: it is paid once per corpus, not per step).

The corpus is synthetic (unit vectors, float32, written once to a memory-mapped file); the query encoder is the
bundled all-MiniLM-L6-v2 (training mode, AdamW step included), 16 queries a step with 5 judged documents each,
graded InfoNCE. Time per step is the median of ``--steps`` steps after one warm-up step; memory is the process's
peak RSS (``ru_maxrss``).

Usage: ``python bench/bounded_lists.py [--sizes 10000,100000,1000000] [--steps 5] [--threads 1] [--hnsw-max N]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
BATCH = 16
JUDGED = 5
TOPK = 100
RANDOM = 256
WORK = Path("outputs/bench/bounded_lists")
TITLE = "Bounded candidate lists vs whole-corpus lists (frozen regime)"


@dataclass
class SyntheticStore:
    """The parts of an EmbeddingStore the frozen step reads, over a memory-mapped synthetic matrix."""

    directory: Path
    num_rows: int
    dim: int = DIM

    @property
    def path(self) -> Path:
        return self.directory / f"matrix-{self.num_rows}.f32"

    def memmap(self) -> np.memmap:
        return np.memmap(self.path, dtype=np.float32, mode="r", shape=(self.num_rows, self.dim))

    def iter_chunks(self, rows_per_chunk: int = 65536) -> Any:
        matrix = self.memmap()
        for start in range(0, self.num_rows, rows_per_chunk):
            yield start, np.asarray(matrix[start : start + rows_per_chunk])

    def load(self) -> np.ndarray:
        return np.asarray(self.memmap()).copy()


class SyntheticCorpus:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def row(self, docid: str) -> int:
        return int(docid[1:])


def make_store(n: int) -> SyntheticStore:
    store = SyntheticStore(WORK, n)
    if not store.path.is_file():
        WORK.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        out = np.memmap(store.path.with_suffix(".tmp"), dtype=np.float32, mode="w+", shape=(n, DIM))
        for start in range(0, n, 65536):
            block = rng.standard_normal((min(65536, n - start), DIM), dtype=np.float32)
            out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
        out.flush()
        del out
        os.replace(store.path.with_suffix(".tmp"), store.path)
    return store


def one_mode(n: int, mode: str, steps: int) -> dict[str, Any]:
    """Run in a child process: build the step, time ``steps`` optimiser steps, report peak RSS."""
    import torch

    from gradedpr.data.sampler import TrainGroup
    from gradedpr.losses import get_loss
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.train.frozen import FrozenPassageStep, freeze_passage_encoder

    store = make_store(n)
    model = BiEncoder.from_pretrained("default", passage_max_length=256)
    freeze_passage_encoder(model)
    rng = np.random.default_rng(1)
    qrels = {f"q{i}": {f"d{int(r)}": int(g) for r, g in zip(rng.choice(n, JUDGED, replace=False),
                                                                  [2, 1, 1, 1, 1], strict=True)}
             for i in range(BATCH)}
    groups = [TrainGroup(q, f"query number {i} about topic {i % 7}", (next(iter(j)),), (2,))
              for i, (q, j) in enumerate(qrels.items())]
    built = time.perf_counter()
    step = FrozenPassageStep(model, store, SyntheticCorpus(n), qrels, get_loss("graded_infonce"),  # type: ignore[arg-type]
                             candidates="corpus" if mode == "corpus" else "topk", topk=TOPK,
                             random_negatives=0 if mode == "corpus" else RANDOM, correct=mode != "corpus",
                             search="hnsw" if mode == "topk-hnsw" else "exact")
    setup = time.perf_counter() - built
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.query_encoder.train()
    times = []
    for i in range(steps + 1):
        began = time.perf_counter()
        optimizer.zero_grad()
        step(groups).backward()
        optimizer.step()
        if i:
            times.append(time.perf_counter() - began)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "mode": mode, "step_s": statistics.median(times), "setup_s": setup, "peak_mb": peak_mb}


def run_benchmark(sizes: list[int], steps: int, threads: int, hnsw_max: int) -> list[dict[str, Any]]:
    """Every (size, mode); each finished row is kept in ``WORK/results.json`` so that a rerun (e.g. after the
    session ended) measures only what is missing. HNSW is built only up to ``hnsw_max`` documents (its build is
    paid once per corpus; at 1M on a shared 2-core machine it takes most of an hour)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cache = WORK / "results.json"
    done_rows: dict[str, dict[str, Any]] = json.loads(cache.read_text()) if cache.is_file() else {}
    rows = []
    for n in sizes:
        for mode in ("corpus", "topk-exact", "topk-hnsw"):
            if mode == "topk-hnsw" and n > hnsw_max:
                continue
            key = f"{n}:{mode}:{steps}:{threads}"
            if key not in done_rows:
                make_store(n)
                done = subprocess.run([sys.executable, __file__, "--child", f"{n}:{mode}", "--steps", str(steps)],
                                      env=env, capture_output=True, text=True, check=True)
                done_rows[key] = {**json.loads(done.stdout.strip().splitlines()[-1]), "load1": os.getloadavg()[0]}
                from gradedpr.utils.atomic import atomic_write_text

                atomic_write_text(cache, json.dumps(done_rows, indent=1) + "\n")
            rows.append(done_rows[key])
            print(rows[-1], flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    base = {r["mode"]: r for r in rows if r["n"] == min(x["n"] for x in rows)}
    lines = ["| documents | lists | step (s) | vs its 10k step | peak RSS (MB) | setup (s, once) | load |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["step_s"] / base[r["mode"]]["step_s"]
        lines.append(f"| {r['n']:,} | {r['mode']} | {r['step_s']:.3f} | {ratio:.2f}x | {r['peak_mb']:.0f} | "
                     f"{r['setup_s']:.1f} | {r.get('load1', float('nan')):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hnsw-max", type=int, default=100_000)
    parser.add_argument("--child", default=None)
    args = parser.parse_args()
    if args.child:
        n, mode = args.child.split(":")
        print(json.dumps(one_mode(int(n), mode, args.steps)))
        return
    rows = run_benchmark([int(s) for s in args.sizes.split(",")], args.steps, args.threads, args.hnsw_max)
    from machine import write_section

    print(write_section("bounded_lists", TITLE, body(rows, args.threads)))


def body(rows: list[dict[str, Any]], threads: int) -> str:
    from machine import machine_line

    return (f"16 queries a step, graded InfoNCE, all-MiniLM-L6-v2 query encoder (training, AdamW), synthetic "
            f"unit vectors; bounded lists = top-{TOPK} + {JUDGED} judged + {RANDOM} uniform draws with the "
            f"sampled-softmax correction. Each mode in its own process (peak RSS includes the model).\n\n"
            + table(rows) + "\n\n" + machine_line(threads))


if __name__ == "__main__":
    main()
