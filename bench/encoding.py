"""Benchmark: passage encoding throughput of gradedpr vs sentence-transformers, and its share of matmul peak.

Both encode the same NFCorpus passages (the first ``--n``, default 2,000, as title + text) with the same
model directory (the bundled all-MiniLM-L6-v2), max length 256, batch size 64, mean pooling + normalisation,
float32 on CPU, with the same number of torch threads. The runs alternate (ST, ours, ST, ours, ...) and the
best time of each is kept. gradedpr's path is ``gradedpr.encode.batching.encode_texts`` -- what
``encode_corpus`` runs on every chunk and ``scripts/index.py`` uses. Achieved GFLOP/s count the BERT matrix
products of the real (unpadded) tokens, so padding is not credited; the peak is the best torch float32 matmul
measured in the same run with the same threads.

Usage: ``python bench/encoding.py [--n 2000] [--threads 2] [--repeats 2] [--ablations]``
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np
import torch

from machine import bert_forward_flops, best_time, machine_line, matmul_peak, nfcorpus_texts, write_section

MAX_LENGTH = 256
BATCH = 64


def run_benchmark(n: int = 2000, threads: int = 2, repeats: int = 2, ablations: bool = False) -> dict[str, Any]:
    """Time sentence-transformers and gradedpr on the same passages; return seconds, ratios, FLOP shares."""
    from sentence_transformers import SentenceTransformer

    from gradedpr.encode.batching import DEFAULT_MAX_TOKENS, encode_texts, tokenize_unpadded
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.model.resolve import bundled_minilm_path

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        texts = nfcorpus_texts(n)
        path = str(bundled_minilm_path())
        st_model = SentenceTransformer(path, device="cpu")
        st_model.max_seq_length = MAX_LENGTH
        ours = BiEncoder.from_pretrained(path, passage_max_length=MAX_LENGTH).eval()
        config = ours.passage_encoder.config
        lengths = tokenize_unpadded(ours, texts, "passage").lengths.tolist()
        flops = bert_forward_flops(lengths, config.num_hidden_layers, config.hidden_size, config.intermediate_size)

        def st_encode(batch: int = BATCH) -> np.ndarray:
            return st_model.encode(texts, batch_size=batch, convert_to_numpy=True, normalize_embeddings=True)

        def our_encode(max_tokens: int | str | None = DEFAULT_MAX_TOKENS, onednn: bool = True) -> np.ndarray:
            return encode_texts(ours, texts, "passage", batch_size=BATCH, max_tokens=max_tokens, onednn=onednn)

        st_encode(BATCH)  # warm-up (lazy initialisation, allocator)
        times: dict[str, list[float]] = {"sentence-transformers": [], "gradedpr": []}
        outputs: dict[str, np.ndarray] = {}
        for _ in range(repeats):
            for name, function in (("sentence-transformers", st_encode), ("gradedpr", our_encode)):
                seconds, outputs[name] = best_time(function)
                times[name].append(seconds)
                print(f"  {name}: {seconds:.1f} s", flush=True)
        rows = {name: min(values) for name, values in times.items()}
        if ablations:
            for label, function in (
                ("gradedpr without oneDNN (MKL linear layers)", lambda: our_encode(onednn=False)),
                ("gradedpr without token cap (max_tokens=None)", lambda: our_encode(None)),
                ("sentence-transformers, batch 8", lambda: st_encode(8)),
            ):
                rows[label], _ = best_time(function)
                print(f"  {label}: {rows[label]:.1f} s", flush=True)
        peak = matmul_peak(threads)
        difference = float(np.abs(outputs["gradedpr"] - outputs["sentence-transformers"]).max())
        return {
            "passages": len(texts),
            "tokens": int(sum(lengths)),
            "gflop": flops / 1e9,
            "threads": threads,
            "seconds": rows,
            "all_times": times,
            "speedup": rows["sentence-transformers"] / rows["gradedpr"],
            "gflops": {name: flops / s / 1e9 for name, s in rows.items()},
            "peak_gflops": peak,
            "max_abs_difference": difference,
            "load": os.getloadavg(),
        }
    finally:
        torch.set_num_threads(previous)


EXPLANATION = (
    "Where the speed comes from (`gradedpr.encode.batching`, `gradedpr.accel.linears`): both sort "
    "by length, so padding is small either way. (1) gradedpr runs each batch of 64 as forward passes of at most "
    "2,048 padded tokens (`max_tokens: auto` on CPU). A 64 x 256-token pass holds 100 MB of feed-forward "
    "activations; a 2,048-token pass stays in the CPU caches, so GELU, bias, layer norm and attention stop "
    "waiting on memory. (2) On CPU the linear layers run through oneDNN with prepacked weights and the GELU "
    "fused into the feed-forward product, instead of MKL's sgemm, which is markedly slower on this AMD CPU "
    "(the matmul peak above is the better of the two). Texts are also tokenised once and batched by token "
    "count. The ablation rows (1-thread run) switch off one part at a time; `BiEncoder.encode` is the "
    "model's own simple loop (per-batch tokenisation, character-length order, MKL)."
)


def markdown(result: dict[str, Any]) -> str:
    base = result["seconds"]["sentence-transformers"]
    lines = [
        f"{result['passages']} NFCorpus passages ({result['tokens']:,} real tokens at max length {MAX_LENGTH}), "
        f"all-MiniLM-L6-v2, batch {BATCH}, float32, {result['threads']} torch thread(s); "
        f"{result['gflop']:.0f} GFLOP of BERT matrix products. Matmul peak measured in the same run: "
        f"{result['peak_gflops']:.0f} GFLOP/s.",
        "",
        "| encoder | seconds (best) | passages/s | vs sentence-transformers | GFLOP/s | share of matmul peak |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, seconds in result["seconds"].items():
        gflops = result["gflops"][name]
        lines.append(
            f"| {name} | {seconds:.1f} | {result['passages'] / seconds:.1f} | {base / seconds:.2f}x | "
            f"{gflops:.0f} | {100 * gflops / result['peak_gflops']:.0f}% |"
        )
    lines += [
        "",
        f"**gradedpr / sentence-transformers throughput: {result['speedup']:.2f}x** (target >= 1.2x); "
        f"gradedpr reaches {100 * result['gflops']['gradedpr'] / result['peak_gflops']:.0f}% of the matmul "
        f"peak (target >= 60%). Max |difference| between the two embeddings: {result['max_abs_difference']:.1e}. "
        f"All timings (s): " + "; ".join(
            f"{k} {', '.join(f'{t:.1f}' for t in v)}" for k, v in result["all_times"].items()) + ".",
        "",
        machine_line(result["threads"], result.get("load")),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts, one run each")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ablations", action="store_true")
    args = parser.parse_args()
    results = [run_benchmark(args.n, int(t), args.repeats, args.ablations) for t in args.threads.split(",")]
    text = "\n\n".join([*(markdown(result) for result in results), EXPLANATION])
    print(text)
    write_section("encoding", "Passage encoding: gradedpr vs sentence-transformers", text)


if __name__ == "__main__":
    main()
