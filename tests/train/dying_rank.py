"""A rank that dies or stalls, for ``test_distributed.py`` (a module of its own: the spawned processes import
only torch and :mod:`gradedpr.train.distributed`, not transformers, so they start fast)."""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from gradedpr.errors import DistributedError
from gradedpr.train.distributed import init_distributed


def dying_worker(rank: int, world: int, init_method: str, mode: str) -> dict[str, Any]:
    dist = init_distributed(rank, world, init_method=init_method, timeout_s=4)
    if rank == 1:
        if mode == "exit":
            os._exit(3)  # dies without a word
        time.sleep(30)  # stalls far beyond the timeout
        return {}
    started = time.monotonic()
    try:
        dist.gather_rows(torch.ones(2, 3), [2, 2])
        dist.barrier()
    except DistributedError as exc:
        return {"error_type": "DistributedError", "message": str(exc), "seconds": time.monotonic() - started}
    return {"error_type": None, "seconds": time.monotonic() - started}
