"""Helpers for the multi-process tests: a tiny training set, fixed groups, and running a function on N ranks.

Ranks are fresh ``spawn`` processes (gloo on 127.0.0.1, a free port); each writes what it computed with
``torch.save`` to ``out/rank{r}.pt`` and the test reads the files, so a failing rank shows its traceback.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # imported where used: a spawned rank that only needs _entry starts without transformers
    from gradedpr.data.corpus import Corpus
    from gradedpr.data.sampler import TrainGroup
    from gradedpr.model import BiEncoder

N_DOCS = 24
IDS = [f"d{i}" for i in range(N_DOCS)]
TOPICS = ["apple", "banana", "cherry", "grape", "lemon", "mango"]
TEXTS = [f"{TOPICS[i % 6]} fact number {i} about {TOPICS[i % 6]}" for i in range(N_DOCS)]
CODES = ["red", "green", "blue", "black", "white", "pink"]
QUERIES = {f"q{t}": f"{code} {code} colour" if t % 2 else code for t, code in enumerate(CODES)}
QRELS = {f"q{t}": {IDS[i]: (2 if i == t else 1) for i in range(t, N_DOCS, 6)} for t in range(6)}
GROUP_SIZE = 4


def corpus() -> Corpus:
    from gradedpr.data.corpus import Corpus

    return Corpus.from_lists(IDS, [""] * N_DOCS, TEXTS)


def global_batch(seed: int = 3) -> list[TrainGroup]:
    """The first global batch (all 6 queries) of a seeded sampler: 2 positives + 2 random negatives each."""
    from gradedpr.data.negatives import RandomNegatives
    from gradedpr.data.sampler import GroupSampler

    sampler = GroupSampler(QUERIES, QRELS, IDS, RandomNegatives(), group_size=GROUP_SIZE, max_positives=2,
                           seed=seed)
    return next(iter(sampler.batches(6, 0)))


def load_model(model_dir: Path, *, train: bool = False, **overrides: Any) -> BiEncoder:
    from gradedpr.model import BiEncoder

    model = BiEncoder.from_pretrained(model_dir, temperature=0.05, **overrides)
    return model.train(train)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry(fn: Callable[..., Any], rank: int, world: int, port: int, out: Path, args: tuple[Any, ...]) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    try:
        result = fn(rank, world, f"tcp://127.0.0.1:{port}", *args)
    except BaseException:  # the test shows what went wrong on which rank
        result = {"error": traceback.format_exc()}
    torch.save(result, out / f"rank{rank}.pt")


def run_ranks(fn: Callable[..., Any], world: int, out: Path, *args: Any, timeout: float = 120.0,
              wait_for: int | None = None) -> list[Any]:
    """Run ``fn(rank, world, init_method, *args)`` in ``world`` spawned processes; their return values.

    Processes still alive after ``timeout`` seconds (or, with ``wait_for``, once that rank has finished) are
    killed, and their result is missing.
    """
    out.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=_entry, args=(fn, r, world, port, out, args)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs if wait_for is None else [procs[wait_for]]:
        p.join(timeout)
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    results = []
    for r in range(world):
        path = out / f"rank{r}.pt"
        results.append(torch.load(path, weights_only=False) if path.exists() else None)
    return results


def grads(model: BiEncoder) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


GRAD_REL_L2 = 2e-5
GRAD_ELEMENT_TOL = {"rtol": 1e-3, "atol": 1e-5}


def assert_grads_close(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    """Same gradients up to float32 summation order: over all parameters as one vector,
    ``||got - want|| <= 2e-5 ||want||``, and element-wise ``rtol=1e-3, atol=1e-5``. (A gradient off by a
    factor, or missing one process's share, fails the first by orders of magnitude; the attention key
    biases, whose gradient is 0 in exact arithmetic and ~1e-11 in float32, are why there is no per-tensor
    relative bound.)"""
    assert got.keys() == want.keys()
    flat_got = torch.cat([got[n].flatten() for n in want])
    flat_want = torch.cat([g.flatten() for g in want.values()])
    rel = float((flat_got - flat_want).norm() / flat_want.norm())
    assert rel <= GRAD_REL_L2, f"relative L2 gradient error {rel:.2e} > {GRAD_REL_L2:.0e}"
    for name, g in want.items():
        torch.testing.assert_close(got[name], g, **GRAD_ELEMENT_TOL, msg=lambda m, n=name: f"{n}: {m}")
