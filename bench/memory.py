"""Benchmark: peak memory of indexing 100k vs 1M short synthetic passages (streaming encoder, flat index).

Each size runs in its own subprocess, which does what ``scripts/index.py`` does: load the collection (a BEIR
``corpus.jsonl`` of random 5-20 word passages, already converted to the arrow cache by a preparation step),
load a tiny random-init BERT (2 layers, hidden 32, the MiniLM tokenizer), stream the corpus through
``encode_to_store`` (chunks of 16,384 passages written to an on-disk float32 store), then build a flat index
from the store and save it. A sampling thread reads ``/proc/self/status`` every 10 ms and keeps, for each
phase, the peak of RssAnon (heap: what the process really allocates) and RssFile (mapped files: the model
and arrow pages, reclaimable cache). The peak total RSS (``VmHWM``) is reported as well.

What must not grow with the corpus is everything but the index: the loaded state (ids stay in the arrow
file), the encoding phase beyond its start (the streaming part) and the peak RSS minus the index (N x dim
float32). Each size is run a second time with ``accel`` off (MKL linear layers) as a control for
oneDNN's per-shape kernel caches, which fill as more distinct batch shapes turn up.

Usage: ``python bench/memory.py [--sizes 100000,1000000] [--batch-size 256] [--no-control]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from machine import ROOT, machine_line, write_section

WORK = ROOT / "outputs" / "bench" / "memory"
WORDS = [f"w{i}" for i in range(5000)]


def make_corpus(directory: Path, n: int, seed: int = 0) -> Path:
    """Write a BEIR collection of ``n`` random short passages (and one query + qrels) if not there yet."""
    import numpy as np

    corpus = directory / "corpus.jsonl"
    if corpus.is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tmp = corpus.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            lengths = rng.integers(5, 21, m)
            words = rng.integers(0, len(WORDS), int(lengths.sum()))
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            handle.writelines(
                json.dumps({"_id": f"p{start + i}", "title": "", "text": " ".join(WORDS[w] for w in
                                                                                   words[offsets[i]:offsets[i + 1]])})
                + "\n"
                for i in range(m)
            )
    tmp.rename(corpus)
    (directory / "queries.jsonl").write_text(json.dumps({"_id": "q0", "text": "w1 w2"}) + "\n")
    (directory / "qrels").mkdir(exist_ok=True)
    (directory / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\tp0\t1\n")
    return directory


class Sampler(threading.Thread):
    """Peak RssAnon / RssFile (MB) per phase, sampled from /proc/self/status."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.phase = "start"
        self.peaks: dict[str, dict[str, float]] = {}
        self.marks: dict[str, dict[str, float]] = {}
        self.running = True

    @staticmethod
    def read() -> dict[str, float]:
        values = {}
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmRSS"):
                values[key] = int(rest.split()[0]) / 1024
        return values

    @staticmethod
    def read_key(key: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def sample(self) -> None:
        now = self.read()
        peak = self.peaks.setdefault(self.phase, {})
        for key, value in now.items():
            peak[key] = max(peak.get(key, 0.0), value)

    def run(self) -> None:
        while self.running:
            self.sample()
            time.sleep(0.01)

    def enter(self, phase: str) -> None:
        """Start ``phase``, remembering the values at its start."""
        self.sample()
        self.phase = phase
        self.marks[phase] = self.read()
        self.sample()


def child(directory: Path, out: Path, batch_size: int, onednn: bool = True) -> dict[str, Any]:
    """The measured process: load, stream-encode, build and save a flat index."""
    sampler = Sampler()
    sampler.start()
    began = time.perf_counter()
    sys.path.insert(0, str(ROOT / "tests"))
    import torch

    import gradedpr.encode.sharded as encode_module
    from conftest import make_tiny_model_dir
    from gradedpr.data.collection import load_collection
    from gradedpr.encode.sharded import encode_to_store
    from gradedpr.index.dense import DenseIndex, index_metadata
    from gradedpr.index.faiss_build import IndexSpec, build_index
    from gradedpr.model.biencoder import BiEncoder

    chunk_anon: list[float] = []  # RssAnon after each encoded chunk: does the encoding state level off?
    encode_rows = encode_module.encode_rows

    def recorded_encode_rows(*args: Any, **kwargs: Any) -> Any:
        vectors = encode_rows(*args, **kwargs)
        chunk_anon.append(Sampler.read_key("RssAnon"))
        return vectors

    encode_module.encode_rows = recorded_encode_rows  # type: ignore[assignment]
    torch.set_num_threads(1)
    sampler.enter("load")
    collection = load_collection("beir", str(directory), splits=[])
    model = BiEncoder.from_pretrained(make_tiny_model_dir(out / "model"), passage_max_length=32).eval()
    model.accel = onednn
    sampler.enter("encode")
    encode_began = time.perf_counter()
    store = encode_to_store(model, collection.corpus, out / "embeddings", batch_size=batch_size,
                            show_progress=False)
    assert store is not None
    encode_seconds = time.perf_counter() - encode_began
    sampler.enter("index")
    built = build_index(store, IndexSpec("flat"), show_progress=False)
    meta = index_metadata(built, model, store.meta["corpus_fingerprint"], len(collection.corpus),
                          passage_fp=store.meta["encoder_fingerprint"])
    DenseIndex(built.index, store.ids, meta).save(out / "index")
    sampler.enter("end")
    sampler.running = False
    ids_arrow = getattr(store.ids, "arrow", None)
    return {
        "passages": len(collection.corpus),
        "onednn": model.accel,
        "corpus_file_mb": sum(os.path.getsize(f["filename"]) for f in collection.corpus.dataset.cache_files) / 2**20,
        "ids_mb": (ids_arrow.nbytes if ids_arrow is not None else float("nan")) / 2**20,
        "peaks": sampler.peaks,
        "chunk_anon": chunk_anon,
        "marks": sampler.marks,
        # VmHWM: peak RSS of this process image (ru_maxrss would carry the parent's peak over fork + exec)
        "peak_rss_mb": Sampler.read_key("VmHWM"),
        "encode_seconds": encode_seconds,
        "seconds": time.perf_counter() - began,
        "index_mb": built.index.ntotal * built.index.d * 4 / 2**20,
    }


def run_benchmark(sizes: tuple[int, ...] = (100_000, 1_000_000), batch_size: int = 256,
                  control: bool = True) -> dict[str, Any]:
    """Prepare the corpora, then measure each size in a fresh subprocess (again with oneDNN off if ``control``)."""
    env = {**os.environ, "GRADEDPR_CACHE_DIR": str(WORK / "cache"), "OMP_NUM_THREADS": "1"}
    for n in sizes:
        subprocess.run([sys.executable, __file__, "--prepare", str(make_corpus(WORK / f"corpus-{n}", n))], env=env,
                       check=True)
    results = []
    for onednn in (True, False) if control else (True,):
        for n in sizes:
            out = WORK / f"run-{n}"
            shutil.rmtree(out, ignore_errors=True)
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(WORK / f"corpus-{n}"), str(out), str(batch_size),
                 "1" if onednn else "0"],
                env=env, check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"  {n:,} passages{'' if onednn else ' (oneDNN off)'}: peak RSS {result['peak_rss_mb']:.0f} MB, "
                  f"encoded in {result['encode_seconds']:.1f} s", flush=True)
            results.append(result)
    return {"sizes": list(sizes), "batch_size": batch_size, "results": results}


LEVEL_MB = 4.0
"""Anon change over the last quarter of the chunks below which the encoding state counts as levelled off."""


def _mb(value: float) -> str:
    return f"{value:.0f}"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "Indexing short synthetic passages (5-20 words) with a tiny random BERT (2 layers, hidden 32), batch "
        f"{result['batch_size']}, chunks of 16,384, flat index; each size in a fresh process, 1 thread. Peaks in "
        "MB; anon = RssAnon (heap), file = RssFile (mapped files). Linear layers: oneDNN (the default on CPU) or "
        "MKL (`accel=false`, the control runs).",
        "",
        "| passages | linear layers | after load: anon | encoding: anon peak | encoding: growth over load "
        "| encoding: file peak | index build: anon peak | index (N x 32 x 4 B) | peak RSS (VmHWM) "
        "| peak RSS - index | encode time (s) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["results"]:
        p = r["peaks"]
        load_anon = r["marks"]["encode"]["RssAnon"]
        enc = p["encode"]
        lines.append(
            f"| {r['passages']:,} | {_layers(r)} | {_mb(load_anon)} | "
            f"{_mb(enc['RssAnon'])} | {enc['RssAnon'] - load_anon:+.0f} | {_mb(enc['RssFile'])} | "
            f"{_mb(p['index']['RssAnon'])} | {_mb(r['index_mb'])} | {_mb(r['peak_rss_mb'])} | "
            f"{_mb(r['peak_rss_mb'] - r['index_mb'])} | {r['encode_seconds']:.1f} |"
        )
    main_runs = [r for r in result["results"] if r.get("onednn", True)]
    controls = [r for r in result["results"] if not r.get("onednn", True)]
    if len(main_runs) >= 2:
        lines += ["", *_findings(main_runs[0], main_runs[-1], controls, result["results"])]
    lines += ["", machine_line(1)]
    return "\n".join(lines)


LEVEL_MB = 4.0
"""Anon change over the last quarter of the chunks below which the encoding state counts as levelled off."""


def _mb(value: float) -> str:
    return f"{value:.0f}"


def _layers(r: dict[str, Any]) -> str:
    return "oneDNN" if r.get("onednn", True) else "MKL"


def _growth(r: dict[str, Any]) -> float:
    """Encoding anon peak over the loaded state."""
    return float(r["peaks"]["encode"]["RssAnon"] - r["marks"]["encode"]["RssAnon"])


def _findings(small: dict[str, Any], large: dict[str, Any], controls: list[dict[str, Any]],
              runs: list[dict[str, Any]]) -> list[str]:
    """The prose under the table, computed from the smallest and largest (oneDNN) runs and the controls."""
    n0, n1 = small["passages"], large["passages"]
    beyond = [r["peak_rss_mb"] - r["index_mb"] for r in (small, large)]
    loaded = [r["marks"]["encode"]["RssAnon"] for r in (small, large)]
    per_passage = (loaded[1] - loaded[0]) * 2**20 / max(1, n1 - n0)
    file_peak = [max(float(p.get("RssFile", 0.0)) for p in r["peaks"].values()) for r in (small, large)]
    at_index = [r["marks"]["index"]["RssAnon"] for r in (small, large)]
    grown = [_growth(small), _growth(large)]
    text = [
        f"**Peak RSS minus the index: {_mb(beyond[0])} MB at {n0:,} passages, {_mb(beyond[1])} MB at {n1:,} "
        f"({beyond[1] - beyond[0]:+.0f} MB for {n1 // n0}x the corpus). Encoding grows by {_mb(grown[0])} MB "
        f"over the loaded state at {n0:,} and by {_mb(grown[1])} MB at {n1:,}.** Where the difference comes from:",
        "",
        f"- Loading: anon memory after loading differs by {loaded[1] - loaded[0]:+.0f} MB ({per_passage:.0f} B "
        "per passage). The ids stay in the memory-mapped arrow file (`Corpus.ids` is an `IdList` over the `_id` "
        "column), the duplicate-id check runs in arrow, and the id -> row dict is only built on the first "
        "lookup, which indexing never makes.",
        f"- The corpus file ({_mb(small['corpus_file_mb'])} vs {_mb(large['corpus_file_mb'])} MB of arrow) is "
        f"read through a memory map, yet file-backed RSS peaks at {_mb(file_peak[0])} vs {_mb(file_peak[1])} MB: "
        "the pages a pass has read are dropped from the process as it goes (`Corpus.release_pages`: every 16 MB "
        "hashed for the fingerprint and after every encoded chunk), so the file is never resident as a whole.",
        f"- The index's id map is an arrow array read from ids.txt in 1 MB blocks: {small['ids_mb']:.1f} vs "
        f"{large['ids_mb']:.1f} MB ({large['ids_mb'] * 2**20 / n1:.0f} B per id). Anon memory when the index "
        f"build starts: {_mb(at_index[0])} vs {_mb(at_index[1])} MB ({at_index[1] - at_index[0]:+.0f} MB: that "
        "id map and the encoding state below). The flat index's code array is then allocated once at its final "
        "size (`reserve_codes`) instead of growing add by add.",
        *_encoding_state(small, large, controls, runs),
        "- The float32 matrix is written with pwrite and read back in 8 MB blocks, so it never becomes resident.",
    ]
    return text


def _encoding_state(small: dict[str, Any], large: dict[str, Any], controls: list[dict[str, Any]],
                    runs: list[dict[str, Any]]) -> list[str]:
    """Does the state built while encoding level off? Anon after chunk k of the largest runs."""
    big = [r for r in runs if r["passages"] == large["passages"] and r.get("chunk_anon")]
    if not big:
        return []
    chunks_small = len(small.get("chunk_anon") or []) or 1
    last = len(big[0]["chunk_anon"])
    marks = sorted({1, chunks_small, last // 4, last // 2, 3 * last // 4, last} - {0})
    header = "| linear layers | " + " | ".join(f"after chunk {k}" for k in marks) + " |"
    table = ["", f"Anon RSS (MB) after encoded chunk k of the {large['passages']:,}-passage runs (the "
             f"{small['passages']:,}-passage runs have {chunks_small} chunks):", "", header,
             "|---|" + "---:|" * len(marks)]
    late: list[str] = []
    late_max = float("-inf")
    for r in big:
        anon = r["chunk_anon"]
        table.append(f"| {_layers(r)} | " + " | ".join(_mb(anon[k - 1]) for k in marks) + " |")
        change = anon[-1] - anon[max(1, 3 * last // 4) - 1]
        late_max = max(late_max, change)
        late.append(f"{change:+.0f} MB ({_layers(r)})")
    pair = [next((c for c in controls if c["passages"] == r["passages"]), None) for r in (small, large)]
    control = ""
    if pair[0] is not None and pair[1] is not None:
        off = [_growth(pair[0]), _growth(pair[1])]
        ids = large["ids_mb"] - small["ids_mb"]
        control = (f" With MKL linear layers encoding grows by {_mb(off[0])} vs {_mb(off[1])} MB "
                   f"({off[1] - off[0]:+.0f} MB, of which {ids:.0f} MB is the id map that opening the merged store "
                   f"reads), against {_growth(large) - _growth(small):+.0f} MB with oneDNN: the other "
                   f"{(_growth(large) - _growth(small)) - (off[1] - off[0]):.0f} MB are oneDNN's per-shape kernel "
                   "caches (one entry per bucketed row count, `gradedpr.accel.onednn`), which a short run has not "
                   "filled yet.")
    if late_max <= LEVEL_MB:
        shape = (f"it levels off: over the last quarter of the chunks anon RSS changes by {', '.join(late)}. It is "
                 "working state of the tokenizer and the linear layers that warms up over the first few dozen "
                 "chunks (a longer run meets more distinct batch shapes), not memory per passage.")
    else:
        shape = (f"it is still growing over the last quarter of the chunks ({', '.join(late)}), so this run does "
                 "not show it to be bounded.")
    return [
        f"- Encoding state: the {large['passages']:,}-passage runs keep growing after the {chunks_small} chunks "
        f"a short run has (table below), but {shape}{control}",
        *table,
        "",
    ]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        from gradedpr.data.collection import load_collection

        load_collection("beir", sys.argv[2], splits=[])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), onednn=sys.argv[5] == "1")))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--no-control", action="store_true", help="skip the runs with accel off")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    result = run_benchmark(sizes, args.batch_size, not args.no_control)
    (WORK / "result.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    text = markdown(result)
    print(text)
    write_section("memory", f"Indexing memory: {sizes[0]:,} vs {sizes[-1]:,} passages", text)


if __name__ == "__main__":
    main()
