"""The process's share of a sharded job: ``RANK`` / ``WORLD_SIZE`` as ``torchrun`` sets them (the process group
itself is :mod:`gradedpr.train.distributed`)."""

from __future__ import annotations

import os


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` from the environment (``(0, 1)`` outside ``torchrun``)."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError as exc:
        raise ValueError(f"RANK / WORLD_SIZE must be integers: {exc}") from exc
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"need 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world}")
    return rank, world
