"""Benchmark: gradedpr's oneDNN linear layers (``accel``, private ``torch.ops.mkldnn`` ops) against what public
PyTorch APIs offer for the same CPU inference, on the same passages (issue 17 item 3: keep accel only if no
public alternative comes within 10% of it).

Rows, all through ``gradedpr.encode.batching.encode_texts`` (same batching, same token cap, float32, CPU):

- ``accel`` -- the linear layers through oneDNN with prepacked weights (``accel=true``, the default);
- ``eager`` -- plain PyTorch (MKL sgemm; ``accel=false``);
- ``torch.compile`` -- the passage encoder compiled by Inductor with ``freezing`` (weights folded as constants,
  prepacked by Inductor's own oneDNN / MKL passes), dynamic shapes so that passes of different lengths share a
  graph. Compilation time is reported apart and not counted in the encoding time.

Each row is timed ``--repeats`` times, interleaved (accel, eager, compile, accel, ...), best kept; the load of the
machine is printed with the result. Output: a section of docs/BENCHMARKS.md.

Usage: ``python bench/accel_alternatives.py [--n 1000] [--threads 1] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import torch

from machine import machine_line, nfcorpus_texts, write_section

MAX_LENGTH = 256
BATCH = 64
TITLE = "CPU inference: oneDNN linear layers (accel) vs public PyTorch APIs"


def run_benchmark(n: int, threads: int, repeats: int) -> dict[str, Any]:
    from gradedpr.encode.batching import encode_texts
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.model.resolve import bundled_minilm_path

    torch.set_num_threads(threads)
    texts = nfcorpus_texts(n)
    path = str(bundled_minilm_path())
    eager = BiEncoder.from_pretrained(path, passage_max_length=MAX_LENGTH).eval()
    compiled = BiEncoder.from_pretrained(path, passage_max_length=MAX_LENGTH).eval()
    compiled.passage_encoder = torch.compile(compiled.passage_encoder, dynamic=True,
                                             options={"freezing": True})
    rows = {
        "accel (oneDNN linear layers)": lambda: encode_texts(eager, texts, "passage", BATCH, onednn=True),
        "eager (plain PyTorch, MKL)": lambda: encode_texts(eager, texts, "passage", BATCH, onednn=False),
        "torch.compile (Inductor, freezing)": lambda: encode_texts(compiled, texts, "passage", BATCH, onednn=False),
    }
    start = time.perf_counter()
    with torch.no_grad():
        rows["torch.compile (Inductor, freezing)"]()  # first call: compiles (and recompiles per new shape class)
    compile_seconds = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in rows}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, function in rows.items():
            began = time.perf_counter()
            outputs[name] = function()
            times[name].append(time.perf_counter() - began)
            print(f"  {name}: {times[name][-1]:.1f} s", flush=True)
    reference = outputs["eager (plain PyTorch, MKL)"]
    return {"passages": len(texts), "threads": threads, "times": times,
            "best": {name: min(values) for name, values in times.items()}, "compile_seconds": compile_seconds,
            "max_abs_difference": {name: float(np.abs(out - reference).max()) for name, out in outputs.items()},
            "load": os.getloadavg()}


def markdown(result: dict[str, Any]) -> str:
    accel = result["best"]["accel (oneDNN linear layers)"]
    lines = [f"{result['passages']} NFCorpus passages, all-MiniLM-L6-v2, max length {MAX_LENGTH}, batch {BATCH}, "
             f"float32, {result['threads']} torch thread(s); best of {len(next(iter(result['times'].values())))} "
             "interleaved runs each.", "",
             "| path | seconds (best) | passages/s | accel's time / this time | max abs diff vs eager |",
             "|---|---:|---:|---:|---:|"]
    for name, seconds in result["best"].items():
        lines.append(f"| {name} | {seconds:.1f} | {result['passages'] / seconds:.0f} | {accel / seconds:.2f} | "
                     f"{result['max_abs_difference'][name]:.1e} |")
    lines += ["", f"torch.compile's first call (compilation) took {result['compile_seconds']:.0f} s; it is not "
              "counted above. All timings (s): " + "; ".join(
                  f"{k} {', '.join(f'{t:.1f}' for t in v)}" for k, v in result["times"].items()) + ".", "",
              machine_line(result["threads"], result["load"])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    text = markdown(run_benchmark(args.n, args.threads, args.repeats))
    print(text)
    write_section("accel_alternatives", TITLE, text)


if __name__ == "__main__":
    main()
