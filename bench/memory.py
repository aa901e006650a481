"""Benchmark: peak memory of indexing 100k vs 1M short synthetic passages (streaming encoder, flat index).

Each size runs in its own subprocess, which does what ``scripts/index.py`` does: load the collection (a BEIR
``corpus.jsonl`` of random 5-20 word passages, already converted to the arrow cache by a preparation step),
load a tiny random-init BERT (2 layers, hidden 32, the MiniLM tokenizer), stream the corpus through
``encode_to_store`` (chunks of 16,384 passages written to an on-disk float32 store), then build a flat index
from the store and save it. A sampling thread reads ``/proc/self/status`` every 10 ms and keeps, for each
phase, the peak of RssAnon (heap: what the process really allocates) and RssFile (mapped files: the model
and arrow pages, reclaimable cache). The peak total RSS (``VmHWM``) is reported as well.

What must not grow with the corpus is the encoding phase beyond its start: that is the streaming part. The
index phase necessarily holds the index (N x dim float32) and the id map.

Usage: ``python bench/memory.py [--sizes 100000,1000000] [--batch-size 256]``
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


def child(directory: Path, out: Path, batch_size: int) -> dict[str, Any]:
    """The measured process: load, stream-encode, build and save a flat index."""
    sampler = Sampler()
    sampler.start()
    began = time.perf_counter()
    sys.path.insert(0, str(ROOT / "tests"))
    import torch

    from conftest import make_tiny_model_dir
    from gradedpr.data.collection import load_collection
    from gradedpr.model.biencoder import BiEncoder
    from gradedpr.retrieval.dense_index import DenseIndex, index_metadata
    from gradedpr.retrieval.encode import encode_to_store
    from gradedpr.retrieval.faiss_index import IndexSpec, build_index

    torch.set_num_threads(1)
    sampler.enter("load")
    collection = load_collection("beir", str(directory), splits=[])
    model = BiEncoder.from_pretrained(make_tiny_model_dir(out / "model"), passage_max_length=32).eval()
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
    return {
        "passages": len(collection.corpus),
        "peaks": sampler.peaks,
        "marks": sampler.marks,
        # VmHWM: peak RSS of this process image (ru_maxrss would carry the parent's peak over fork + exec)
        "peak_rss_mb": Sampler.read_key("VmHWM"),
        "encode_seconds": encode_seconds,
        "seconds": time.perf_counter() - began,
        "index_mb": built.index.ntotal * built.index.d * 4 / 2**20,
    }


def run_benchmark(sizes: tuple[int, ...] = (100_000, 1_000_000), batch_size: int = 256) -> dict[str, Any]:
    """Prepare the corpora, then measure each size in a fresh subprocess."""
    env = {**os.environ, "GRADEDPR_CACHE_DIR": str(WORK / "cache"), "OMP_NUM_THREADS": "1"}
    results = []
    for n in sizes:
        directory = make_corpus(WORK / f"corpus-{n}", n)
        subprocess.run([sys.executable, __file__, "--prepare", str(directory)], env=env, check=True)
        out = WORK / f"run-{n}"
        shutil.rmtree(out, ignore_errors=True)
        done = subprocess.run([sys.executable, __file__, "--child", str(directory), str(out), str(batch_size)],
                              env=env, check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {n:,} passages: peak RSS {result['peak_rss_mb']:.0f} MB, "
              f"encoded in {result['encode_seconds']:.1f} s", flush=True)
        results.append(result)
    return {"sizes": list(sizes), "batch_size": batch_size, "results": results}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "Indexing short synthetic passages (5-20 words) with a tiny random BERT (2 layers, hidden 32), batch "
        f"{result['batch_size']}, chunks of 16,384, flat index; each size in a fresh process, 1 thread. Peaks in MB.",
        "",
        "| passages | after load: anon | encoding: anon peak | encoding: growth over load | encoding: file peak "
        "| index build: anon peak | index (N x 32 x 4 B) | peak RSS (VmHWM) | encode time (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["results"]:
        p = r["peaks"]
        load_anon = r["marks"]["encode"]["RssAnon"]
        enc = p["encode"]
        lines.append(
            f"| {r['passages']:,} | {load_anon:.0f} | {enc['RssAnon']:.0f} | {enc['RssAnon'] - load_anon:+.0f} | "
            f"{enc['RssFile']:.0f} | {p['index']['RssAnon']:.0f} | {r['index_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
            f"{r['encode_seconds']:.1f} |"
        )
    rs = result["results"]
    if len(rs) >= 2:
        small, large = rs[0], rs[-1]
        growth = [r["peaks"]["encode"]["RssAnon"] - r["marks"]["encode"]["RssAnon"] for r in (small, large)]
        loaded = [r["marks"]["encode"]["RssAnon"] for r in (small, large)]
        per_passage = (loaded[1] - loaded[0]) * 2**20 / max(1, large["passages"] - small["passages"])
        lines += [
            "",
            f"**Encoding memory is flat: it grows by {growth[0]:.0f} MB over the loaded state at "
            f"{small['passages']:,} passages and by {growth[1]:.0f} MB at {large['passages']:,}** "
            f"({large['passages'] // small['passages']}x the corpus). The state after loading grows with the "
            f"corpus ({per_passage:.0f} B per passage: the id list and id -> row dict the data module keeps in "
            "Python); the index phase adds the index itself and its id map. The float32 matrix is written with "
            "pwrite and "
            "read back in blocks, so it never becomes resident; arrow pages of the corpus show up as file-backed "
            "RSS (page cache the kernel can drop).",
        ]
    lines += ["", machine_line(1)]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        from gradedpr.data.collection import load_collection

        load_collection("beir", sys.argv[2], splits=[])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    result = run_benchmark(tuple(int(s) for s in args.sizes.split(",")), args.batch_size)
    text = markdown(result)
    print(text)
    write_section("memory", "Indexing memory: 100k vs 1M passages", text)


if __name__ == "__main__":
    main()
