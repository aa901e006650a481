"""``scripts/export.py``: export a checkpoint as a sentence-transformers model directory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradedpr.commands.checks import export_app
from gradedpr.config.schema import ExportApp
from gradedpr.export.sentence_transformers import ExportResult, export_sentence_transformers


def run_export(cfg: Mapping[str, Any] | ExportApp) -> ExportResult:
    """Export ``cfg.checkpoint`` to ``cfg.output`` and print what was written."""
    app = export_app(cfg)
    result = export_sentence_transformers(app.checkpoint, app.output, verify=app.verify, tolerance=app.tolerance,
                                          overwrite=app.overwrite)
    kind = "Router(query, document)" if result.form == "router" else "plain (one shared encoder)"
    check = f"; max |diff| vs gradedpr {result.max_abs_diff:.2e}" if result.max_abs_diff is not None else ""
    print(f"exported {app.checkpoint} -> {result.output} ({kind}{check})")
    print(f'load it with: SentenceTransformer("{result.output}")')
    return result
