"""Loading ``torch.save`` files that gradedpr wrote, without running code from them.

Trainer state holds only tensors and plain values (numbers, strings, lists, tuples, dicts, None; see
:func:`gradedpr.utils.seeding.rng_state` for the RNG states), so it loads with ``weights_only=True``: a file
that pickles anything else -- an object whose unpickling would call ``os.system``, say -- is refused
before any of it runs, as is a truncated or corrupt file, with one line naming the file.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from gradedpr.errors import CheckpointError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _reason(exc: BaseException) -> str:
    """What torch's long, multi-line refusal is about (the global it would call), or the first line of any
    other error."""
    text = str(exc)
    found = _GLOBAL.search(text)
    if found is not None:
        return f"it pickles a call of {found.group(1)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def load_plain_state(path: str | Path) -> dict[str, Any]:
    """The dict saved at ``path`` by ``torch.save``, loaded with ``weights_only=True`` onto the CPU.

    Raises :class:`~gradedpr.errors.CheckpointError` (one line, naming the file) when the file holds anything
    but tensors and plain values, is truncated or corrupt, or is not a dict.
    """
    file = Path(path)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{file}: refused to load: it holds something other than tensors and plain values, which loading "
            f"could run as code ({_reason(exc)}); resume only from trainer state gradedpr wrote, or start a new "
            "run from the checkpoint's weights alone (model.name_or_path=<its directory>)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: truncated or corrupt trainer state ({_reason(exc)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{file}: not a trainer state (a {type(state).__name__}, not a dict)")
    return state
