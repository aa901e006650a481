"""``scripts/export.py``: export a checkpoint as a sentence-transformers model directory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradedpr.errors import CheckpointError
from gradedpr.export.sentence_transformers import ExportResult, export_sentence_transformers


def run_export(cfg: Mapping[str, Any]) -> ExportResult:
    """Export ``cfg.checkpoint`` to ``cfg.output`` and print what was written."""
    for key in ("checkpoint", "output"):
        value = cfg.get(key)
        if value is None or str(value) in ("", "???"):
            raise CheckpointError(f"{key}=<directory> is required (python scripts/export.py checkpoint=... output=...)")
    result = export_sentence_transformers(
        str(cfg["checkpoint"]), str(cfg["output"]),
        verify=bool(cfg.get("verify", True)), tolerance=float(cfg.get("tolerance", 1e-4)),
    )
    kind = "Router(query, document)" if result.form == "router" else "plain (one shared encoder)"
    check = f"; max |diff| vs gradedpr {result.max_abs_diff:.2e}" if result.max_abs_diff is not None else ""
    print(f"exported {cfg['checkpoint']} -> {result.output} ({kind}{check})")
    print(f'load it with: SentenceTransformer("{result.output}")')
    return result
