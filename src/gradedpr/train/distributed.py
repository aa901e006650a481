"""Several training processes (``torchrun``): the process group, gathers that keep the local graph, gradient
sums, and barriers that end with a clear error instead of hanging.

How a multi-process step works (see :class:`~gradedpr.train.step.InBatchStep`): every rank holds a slice of
one global batch, encodes it, and gathers the query and passage embeddings of all ranks. The gathered
tensor holds the other ranks' rows *detached* and this rank's rows *with their autograd graph*
(:meth:`Dist.gather_rows`), so every rank computes the same loss over the whole global batch, and its
backward pass yields exactly the part of the full-batch gradient that flows through its own embeddings.
The parts add up to the full gradient, so the ranks **sum** their gradients (:meth:`Dist.sum_gradients`,
one all-reduce per optimiser step) -- they do not average them as ``DistributedDataParallel`` does (which
would divide the gradient by the world size; with DDP one would multiply the loss by the world size, as
Tevatron does, for the same result). The gradient then equals the one-process gradient of the same global
batch for any world size, and every rank applies the same update.

Errors: a collective that fails (a peer process died, closed its connection, or did not arrive within
``timeout_s``) raises :class:`~gradedpr.errors.DistributedError` naming the operation, never hangs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as tdist
from torch import Tensor

from gradedpr.errors import ConfigError, DistributedError

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_TIMEOUT_S = 1800.0
"""How long a rank waits for the others at any collective (rank 0's dev evaluation included)."""
BUCKET_ELEMENTS = 16 * 2**20
"""Gradient elements summed per all-reduce call (bounds the temporary buffer to 64 MB of float32)."""


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: ``rank`` of ``world_size``; ``Dist()`` is the single process."""

    rank: int = 0
    world_size: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that evaluates, logs and writes checkpoints."""
        return self.rank == 0

    # ------------------------------------------------------------------ splitting a global batch
    def bounds(self, n: int) -> list[int]:
        """Start offsets of each rank's share of ``n`` items (plus ``n``): contiguous, in rank order, sizes
        differing by at most one (the larger shares first)."""
        base, extra = divmod(n, self.world_size)
        starts = [0]
        for r in range(self.world_size):
            starts.append(starts[-1] + base + (1 if r < extra else 0))
        return starts

    def local_slice(self, items: Sequence[T]) -> list[T]:
        """This rank's contiguous share of ``items`` (see :meth:`bounds`)."""
        starts = self.bounds(len(items))
        return list(items[starts[self.rank] : starts[self.rank + 1]])

    # ------------------------------------------------------------------ collectives
    @contextlib.contextmanager
    def _collective(self, what: str) -> Iterator[None]:
        try:
            yield
        except RuntimeError as exc:  # DistBackendError / DistNetworkError / gloo's timeout are RuntimeErrors
            reason = " ".join(str(exc).split())[:300]
            raise DistributedError(
                f"rank {self.rank} of {self.world_size}: {what} failed ({reason}); another process died or did "
                f"not arrive within train.dist_timeout={self.timeout_s:g} s"
            ) from None

    def gather_rows(self, local: Tensor, counts: Sequence[int], what: str = "gathering embeddings") -> Tensor:
        """All ranks' rows concatenated in rank order (rank ``r`` contributes ``counts[r]`` rows).

        Other ranks' rows arrive detached; this rank's rows are ``local`` itself, graph included, so a
        backward pass through the result reaches this rank's encoders only (module docstring).
        """
        if not self.enabled:
            return local
        if len(counts) != self.world_size or local.shape[0] != counts[self.rank]:
            raise ValueError(f"rank {self.rank}: {local.shape[0]} rows, counts {list(counts)}")
        width = max(counts)
        padded = local.detach().new_zeros((width, *local.shape[1:]))
        padded[: local.shape[0]] = local.detach()
        slots = [torch.empty_like(padded) for _ in range(self.world_size)]
        with self._collective(what):
            tdist.all_gather(slots, padded)
        parts = [slot[:count] for slot, count in zip(slots, counts, strict=True)]
        parts[self.rank] = local
        return torch.cat(parts)

    def all_gather_object(self, obj: T, what: str = "gathering batch contents") -> list[T]:
        """Every rank's ``obj`` (picklable), in rank order."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        with self._collective(what):
            tdist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: T, what: str = "receiving rank 0's value") -> T:
        """Rank 0's ``obj`` on every rank (what other ranks pass is ignored)."""
        if not self.enabled:
            return obj
        box: list[Any] = [obj if self.is_main else None]
        with self._collective(what):
            tdist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self, what: str = "waiting for the other processes") -> None:
        if self.enabled:
            with self._collective(what):
                if tdist.get_backend() == "gloo":
                    # gloo's monitored barrier honours the timeout and names the ranks that did not arrive
                    tdist.monitored_barrier(timeout=timedelta(seconds=self.timeout_s))
                else:
                    tdist.barrier()

    def broadcast_parameters(self, params: Sequence[Tensor], what: str = "copying rank 0's weights") -> None:
        """Overwrite every rank's ``params`` (and buffers passed along) with rank 0's values."""
        if not self.enabled:
            return
        with self._collective(what), torch.no_grad():
            for p in params:
                tdist.broadcast(p.data, src=0)

    def sum_gradients(self, params: Sequence[torch.nn.Parameter], what: str = "summing gradients") -> None:
        """Replace each ``p.grad`` by its sum over the ranks (see the module docstring for why a sum).

        A parameter without a gradient on a rank counts as zero there; it keeps ``grad=None`` only when no
        rank has one (so the optimiser skips it exactly as a single process would).
        """
        if not self.enabled or not params:
            return
        device = params[0].device
        has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=device)
        with self._collective(what):
            tdist.all_reduce(has_grad)
            for p, flag in zip(params, has_grad.tolist(), strict=True):
                if flag and p.grad is None:
                    p.grad = torch.zeros_like(p)
            with_grad = [p for p in params if p.grad is not None]
            bucket: list[torch.nn.Parameter] = []
            size = 0
            for p in with_grad:
                bucket.append(p)
                size += p.numel()
                if size >= BUCKET_ELEMENTS:
                    _all_reduce_bucket(bucket)
                    bucket, size = [], 0
            if bucket:
                _all_reduce_bucket(bucket)


def _all_reduce_bucket(bucket: list[torch.nn.Parameter]) -> None:
    by_dtype: dict[torch.dtype, list[torch.nn.Parameter]] = {}
    for p in bucket:
        assert p.grad is not None
        by_dtype.setdefault(p.grad.dtype, []).append(p)
    for group in by_dtype.values():
        flat = torch.cat([p.grad.reshape(-1) for p in group])  # type: ignore[union-attr]
        tdist.all_reduce(flat)  # SUM
        offset = 0
        for p in group:
            assert p.grad is not None
            n = p.grad.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n


def init_distributed(
    rank: int,
    world_size: int,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    init_method: str | None = None,
    device: torch.device | None = None,
) -> Dist:
    """Join (or start) the process group: NCCL when ``device`` is CUDA, else gloo; ``init_method=None`` reads
    ``MASTER_ADDR`` / ``MASTER_PORT`` from the environment as ``torchrun`` sets them."""
    if timeout_s <= 0:
        raise ConfigError(f"train.dist_timeout must be > 0 seconds, got {timeout_s}")
    device = device or torch.device("cpu")
    if world_size == 1:
        return Dist(0, 1, timeout_s, device)
    if not tdist.is_available():
        raise ConfigError("this torch build has no torch.distributed: cannot train with several processes")
    if not tdist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        try:
            tdist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                                     timeout=timedelta(seconds=timeout_s))
        except (RuntimeError, ValueError) as exc:
            reason = " ".join(str(exc).split())[:300]
            raise DistributedError(f"rank {rank} of {world_size}: cannot join the process group ({reason}); "
                                   f"check MASTER_ADDR / MASTER_PORT and that every process started "
                                   f"within train.dist_timeout={timeout_s:g} s") from None
    log.info("process group: rank %d of %d, backend %s, device %s", rank, world_size, tdist.get_backend(),
             device)
    return Dist(rank, world_size, timeout_s, device)


def init_from_env(timeout_s: float = DEFAULT_TIMEOUT_S, device: torch.device | None = None) -> Dist:
    """The :class:`Dist` of a process started by ``torchrun`` (``Dist()`` when ``WORLD_SIZE`` is unset or 1)."""
    from gradedpr.utils.ranks import rank_and_world

    try:
        rank, world = rank_and_world()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return init_distributed(rank, world, timeout_s=timeout_s, device=device)


def shutdown(dist: Dist) -> None:
    """Leave the process group (a no-op for a single process)."""
    if dist.enabled and tdist.is_initialized():
        tdist.destroy_process_group()
