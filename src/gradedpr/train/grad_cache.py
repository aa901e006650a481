"""GradCache (Gao, Zhang, Han and Callan 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
Limited Setup", RepL4NLP): a large in-batch step in the memory of a small one.

The loss of an in-batch step depends on the encoders only through the embeddings. So the step can be cut in
three: (1) encode every chunk of queries and passages **without** an autograd graph and keep only the
embeddings; (2) compute the loss over the full batch from those embeddings (as leaf tensors) and backpropagate
it to them, which gives ``dL/de`` for every embedding; (3) encode each chunk again, this time with its graph,
and backpropagate the cached ``dL/de`` of its rows into the encoder (``sum_i <dL/de_i, e_i(theta)>`` has the
gradient ``sum_i J_i^T dL/de_i``, the chain rule of the full step). Only one chunk's activations are alive at
any time; the cost is a second forward pass.

Dropout makes the re-encoding differ from the first encoding unless it draws the same masks: the RNG state
(CPU, and the current CUDA device's) is captured before each chunk's first pass and restored for its second
(:class:`RngState`), as ``torch.utils.checkpoint`` does. With that the cached step computes the gradient of
exactly the forward pass it scored: the one whose encoders ran chunk by chunk. With the chunk as large as the
local batch it is the plain step's own forward pass (same shapes, same RNG draws); with smaller chunks
dropout draws its masks per chunk, which changes the noise sample, not the model or its expectation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class RngState:
    """The RNG states dropout reads from: the CPU generator and, on CUDA, the current device's."""

    cpu: Tensor
    cuda: Tensor | None
    device: torch.device

    @classmethod
    def capture(cls, device: torch.device) -> RngState:
        cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        return cls(torch.get_rng_state(), cuda, device)

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        """Run the block from this state; the RNG outside the block is left as it was."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.device)
            yield


def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` covering ``range(n)`` in pieces of ``chunk`` (the last may be shorter)."""
    return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
