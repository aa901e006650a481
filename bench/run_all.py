"""Run every benchmark and rewrite docs/BENCHMARKS.md (``make bench``; ``make bench ARGS="--quick"``).

Benchmarks, in order: passage encoding vs sentence-transformers (``encoding``), accel's oneDNN kernels vs
``torch.compile`` and plain PyTorch (``accel_alternatives``), a training step vs a plain
transformers loop (``train_step``), the losses' cost (``losses``, ``bench/losses.py``; on whole-corpus lists:
``whole_corpus_losses``), the evaluator vs
pytrec_eval (``evaluator``, ``bench/evaluator.py``), FAISS flat / HNSW / IVF-PQ at 1M x 384 (``faiss``),
indexing memory at 100k vs 1M passages (``memory``) and training memory against the batch (plain / GradCache /
checkpointing) plus 2 gloo processes vs 1 (``train_parallel``, ``bench/train_parallel.py``), and frozen-regime
steps with whole-corpus vs bounded lists from 10k to 1M documents (``bounded_lists``). Each writes its
own section of docs/BENCHMARKS.md as soon as it finishes. The full run takes about an hour on 2 cores;
``--quick`` shrinks every size for a smoke run (its numbers are not meant for the document: it writes
outputs/bench/BENCHMARKS.quick.md instead).

Usage: ``python bench/run_all.py [--quick] [--only encoding,faiss] [--skip memory]``
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # the bench directory is not a package: imported through sys.path

NAMES = ("encoding", "accel_alternatives", "train_step", "losses", "whole_corpus_losses", "evaluator", "faiss",
         "memory", "train_parallel", "bounded_lists")


def _optional(module: str) -> Any | None:
    """A benchmark module written by someone else, or None when it is not there (yet)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            print(f"[{module}] not present, skipped", flush=True)
            return None
        raise


def bench_encoding(quick: bool) -> None:
    import encoding

    two = encoding.run_benchmark(n=64 if quick else 2000, threads=2, repeats=1 if quick else 2)
    one = encoding.run_benchmark(n=64 if quick else 2000, threads=1, repeats=1 if quick else 2, ablations=True)
    results = [one, two]
    text = "\n\n".join([*(encoding.markdown(r) for r in results), encoding.EXPLANATION])
    machine.write_section("encoding", "Passage encoding: gradedpr vs sentence-transformers", text)


def bench_train_step(quick: bool) -> None:
    import train_step

    result = train_step.run_benchmark(queries=4, group=4, threads=1, repeats=2 if quick else 7)
    machine.write_section("train_step", "Training step: gradedpr vs a plain transformers loop",
                          train_step.markdown(result))


def bench_losses(quick: bool) -> None:
    losses = _optional("losses")
    if losses is None:
        return
    kwargs: dict[str, Any] = {"repeats": 1, "encoder_repeats": 1} if quick else {}
    rows = losses.run_benchmark(**kwargs)
    table = losses.markdown_table(rows) if hasattr(losses, "markdown_table") else repr(rows)
    doc = (losses.__doc__ or "").split("\n\n")[0].strip()
    threads = rows[0].get("threads") if rows and isinstance(rows[0], dict) else None
    machine.write_section("losses", "Losses: forward + backward cost",
                          f"{doc}\n\n{table}\n\n{machine.machine_line(threads)}")


def bench_evaluator(quick: bool) -> None:
    evaluator = _optional("evaluator")
    if evaluator is None:
        return
    sizes = {"num_queries": 100, "docs_per_query": 100, "repeats": 1} if quick else {}
    r = evaluator.run_benchmark(**sizes)
    text = "\n".join([
        f"{r['num_queries']:,} queries x {r['docs_per_query']:,} retrieved documents, measures "
        f"{', '.join(r['measures'])}; best of repeated runs, same process.",
        "",
        "| evaluator | seconds | speed-up | per-query max abs difference |",
        "|---|---:|---:|---:|",
        f"| pytrec_eval | {r['pytrec_eval_seconds']:.3f} | 1.00x | - |",
        f"| gradedpr | {r['gradedpr_seconds']:.3f} | {r['speedup']:.2f}x | {r['max_abs_difference']:.1e} "
        f"({'identical' if r['identical'] else 'DIFFERENT'}) |",
        "",
        machine.machine_line(),
    ])
    machine.write_section("evaluator", "Evaluator: gradedpr vs pytrec_eval", text)


def bench_faiss(quick: bool) -> None:
    import faiss_indexes

    n = 20_000 if quick else 1_000_000
    result = faiss_indexes.run_benchmark(n=n, queries=200 if quick else 1000, threads=2)
    machine.write_section("faiss", f"FAISS indexes at {n:,} x {faiss_indexes.DIM}", faiss_indexes.markdown(result))


def bench_memory(quick: bool) -> None:
    import memory

    sizes = (2_000, 20_000) if quick else (100_000, 1_000_000)
    machine.write_section("memory", f"Indexing memory: {sizes[0]:,} vs {sizes[1]:,} passages",
                          memory.markdown(memory.run_benchmark(sizes)))


def bench_train_parallel(quick: bool) -> None:
    import train_parallel

    for section, title, run in train_parallel.SECTIONS.values():
        machine.write_section(section, title, run(quick))


def bench_whole_corpus_losses(quick: bool) -> None:
    import whole_corpus_losses

    rows = whole_corpus_losses.run_benchmark(repeats=1 if quick else 5, threads=1)
    machine.write_section("whole_corpus_losses", whole_corpus_losses.TITLE, whole_corpus_losses.body(rows, 1))


def bench_bounded_lists(quick: bool) -> None:
    import bounded_lists

    sizes = [10_000] if quick else [10_000, 100_000, 1_000_000]
    rows = bounded_lists.run_benchmark(sizes, steps=1 if quick else 3, threads=1, hnsw_max=1_000_000)
    machine.write_section("bounded_lists", bounded_lists.TITLE, bounded_lists.body(rows, 1))


def bench_accel_alternatives(quick: bool) -> None:
    import accel_alternatives

    result = accel_alternatives.run_benchmark(n=32 if quick else 1000, threads=1, repeats=1 if quick else 3)
    machine.write_section("accel_alternatives", accel_alternatives.TITLE, accel_alternatives.markdown(result))


BENCHES: dict[str, Callable[[bool], None]] = {
    "encoding": bench_encoding,
    "accel_alternatives": bench_accel_alternatives,
    "train_step": bench_train_step,
    "losses": bench_losses,
    "evaluator": bench_evaluator,
    "faiss": bench_faiss,
    "memory": bench_memory,
    "train_parallel": bench_train_parallel,
    "whole_corpus_losses": bench_whole_corpus_losses,
    "bounded_lists": bench_bounded_lists,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes; writes outputs/bench/BENCHMARKS.quick.md")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(NAMES)}")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    args = parser.parse_args()
    chosen = [n for n in (args.only.split(",") if args.only else NAMES) if n and n not in args.skip.split(",")]
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(NAMES)}")
    if args.quick:
        machine.DOC = machine.ROOT / "outputs" / "bench" / "BENCHMARKS.quick.md"
    failed = []
    for name in chosen:
        began = time.perf_counter()
        print(f"[{name}] running", flush=True)
        try:
            BENCHES[name](args.quick)
        except Exception:  # one broken benchmark must not lose the others' results
            traceback.print_exc()
            failed.append(name)
        print(f"[{name}] {time.perf_counter() - began:.0f} s", flush=True)
    machine.order_sections(list(NAMES))
    print(f"wrote {machine.DOC}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
