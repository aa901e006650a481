"""Shared benchmark helpers: machine description, timing, FLOP counting, and updating docs/BENCHMARKS.md.

Each benchmark owns one section of docs/BENCHMARKS.md between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->`` and replaces only that section, so benchmarks can be rerun one at a time.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
NFCORPUS = ROOT.parent / "shared" / "data" / "nfcorpus"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HEADER = """# Benchmarks

Measured by `make bench` (`bench/run_all.py`); each script can also be run alone and rewrites only its own
section below. Ratios compare two implementations measured side by side in the same process and run, on the
same inputs, with the same number of threads. The machine is shared (2 cores used by several jobs at once):
every section records the load average it saw, and timings take the best of interleaved repeats, which is the
least disturbed measurement.
"""


def cpu_model() -> str:
    """Model name, family / model numbers and the widest SIMD extension, from /proc/cpuinfo."""
    try:
        info: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "unknown"
    flags = info.get("flags", "").split()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{info.get('model name', 'unknown')} (family {info.get('cpu family')}, model {info.get('model')}, {simd})"


def machine_line(threads: int | None = None, load: tuple[float, ...] | None = None) -> str:
    """CPU, cores, library versions, threads and the load average (now, or ``load`` recorded earlier)."""
    import faiss
    import transformers

    load = ", ".join(f"{x:.2f}" for x in (load or os.getloadavg()))
    used = threads if threads is not None else torch.get_num_threads()
    return (
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}, faiss {faiss.__version__}; "
        f"{used} thread(s); load average at the end {load}; "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}."
    )


def write_section(name: str, title: str, body: str) -> Path:
    """Replace (or append) section ``name`` of docs/BENCHMARKS.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    block = f"<!-- bench:{name} -->\n## {title}\n\n{body.rstrip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    from gradedpr.utils.atomic import atomic_write_text

    atomic_write_text(DOC, text)
    return DOC


def order_sections(names: list[str]) -> None:
    """Rearrange the sections of docs/BENCHMARKS.md into the order of ``names`` (others keep their place after)."""
    if not DOC.exists():
        return
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- bench:(\w+) -->.*?<!-- /bench:\1 -->", re.S)
    blocks = {m.group(1): m.group(0) for m in pattern.finditer(text)}
    first = pattern.search(text)
    if first is None:
        return
    head = text[: first.start()].rstrip()
    ordered = [blocks[n] for n in names if n in blocks] + [b for n, b in blocks.items() if n not in names]
    from gradedpr.utils.atomic import atomic_write_text

    atomic_write_text(DOC, head + "\n\n" + "\n\n".join(ordered) + "\n")


def best_time(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def matmul_peak(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of torch matrix products: a square ``size``^3 product and a BERT feed-forward
    shaped one (2048 tokens x 384 -> 1536), each with ``torch.matmul`` (MKL) and with oneDNN's linear op
    (which PyTorch also ships, and which gradedpr's encoder uses on CPU), best of ``repeats``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        best = 0.0
        onednn = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
        with torch.inference_mode():
            for m, k, n in ((size, size, size), (2048, 384, 1536)):
                a, b = torch.randn(m, k), torch.randn(k, n)
                bt = b.T.contiguous()
                products = [lambda a=a, b=b: a @ b]
                if onednn is not None:
                    products.append(lambda a=a, bt=bt: onednn(a, bt, None, "none", [], ""))
                for product in products:
                    for _ in range(2):
                        product()
                    for _ in range(repeats):
                        start = time.perf_counter()
                        product()
                        best = max(best, 2 * m * k * n / (time.perf_counter() - start) / 1e9)
        return best
    finally:
        torch.set_num_threads(previous)


def bert_forward_flops(lengths: list[int], layers: int, hidden: int, intermediate: int) -> float:
    """Forward FLOPs of a BERT encoder over sequences of the given real token counts (multiply-add = 2).

    Per layer and sequence of L tokens: projections Q, K, V, O: 2 L 4 h^2; feed-forward: 2 L 2 h i;
    attention scores and weighted sum: 2 * 2 L^2 h. Embeddings, layer norms, softmax, GELU and pooling are
    not counted (they are a few percent of the total and are not matrix products).
    """
    total = 0.0
    for length in lengths:
        total += 2 * length * (4 * hidden * hidden + 2 * hidden * intermediate) + 4 * length * length * hidden
    return total * layers


def nfcorpus_texts(count: int) -> list[str]:
    """The first ``count`` NFCorpus passages as gradedpr encodes them (title + text), in corpus order."""
    from gradedpr.data.collection import load_collection

    corpus = load_collection("beir", str(NFCORPUS), splits=[]).corpus
    return corpus.texts(list(range(min(count, len(corpus)))))
