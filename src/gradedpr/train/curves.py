"""``curves.png``: a picture of a training run, drawn from its ``metrics.jsonl``.

Top: the dev metric that picks the best checkpoint (``train.eval_metric``, nDCG@10 by default) against the step,
the start model's level as a dashed line, the selected (best) step marked. Bottom: the training loss against
the step, the same step marked. Drawn with matplotlib's Agg canvas (no display, no pyplot state) and written
atomically (a temporary file in the run directory, then ``os.replace``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gradedpr.filenames import CURVES_FILE, METRICS_LOG
from gradedpr.model.run_record import read_metrics_records
from gradedpr.utils.atomic import atomic_open

Points = list[tuple[int, float]]


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` that carry a step (a line cut short by a kill is skipped)."""
    return [r for r in read_metrics_records(path) if isinstance(r.get("step"), int)]


def curve_points(records: Iterable[Mapping[str, Any]], key: str) -> Points:
    """``(step, value)`` of every record holding a finite number under ``key``, by step (the last record of
    a step wins)."""
    points: dict[int, float] = {}
    for record in records:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            points[int(record["step"])] = float(value)
    return sorted(points.items())


def best_of(dev: Points) -> int | None:
    """The step the trainer keeps as best: the first step with the highest dev value."""
    if not dev:
        return None
    top = max(v for _, v in dev)
    return next(step for step, v in dev if v == top)


def curves_figure(dev: Sequence[tuple[int, float]], loss: Sequence[tuple[int, float]], *, metric: str,
                  best_step: int | None, split: str = "dev") -> Any:
    """The figure (a ``matplotlib.figure.Figure`` on an Agg canvas): dev curve above, loss curve below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 6.0))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    if dev:
        top.plot([s for s, _ in dev], [v for _, v in dev], marker="o", markersize=3, color="#3b75af",
                 label=f"{split} {metric}")
        start = dict(dev).get(0)
        if start is not None:
            top.axhline(start, linestyle="--", color="black", linewidth=1, label=f"start model {start:.4f}")
    if best_step is not None:
        value = dict(dev).get(best_step)
        for ax in (top, bottom):
            ax.axvline(best_step, linestyle=":", color="#c0392b", linewidth=1)
        if value is not None:
            top.plot([best_step], [value], marker="*", markersize=12, color="#c0392b", linestyle="none",
                     label=f"selected: step {best_step} ({value:.4f})")
    top.set_ylabel(f"{split} {metric}")
    top.set_title(f"{split} {metric} and training loss")
    if dev:
        top.legend(fontsize=8, loc="best")
    if loss:
        bottom.plot([s for s, _ in loss], [v for _, v in loss], color="#555555", linewidth=1, label="train/loss")
        bottom.legend(fontsize=8, loc="best")
    bottom.set_xlabel("step")
    bottom.set_ylabel("training loss")
    fig.tight_layout()
    return fig


def write_curves(run_dir: str | Path, metric: str = "ndcg@10", best_step: int | None = None,
                 split: str = "dev") -> Path:
    """Draw ``run_dir/curves.png`` from ``run_dir/metrics.jsonl`` (``best_step``: None = the best dev step
    of the file) and return its path."""
    run_dir = Path(run_dir)
    records = read_records(run_dir / METRICS_LOG)
    dev = curve_points(records, f"dev/{metric}")
    loss = curve_points(records, "train/loss")
    fig = curves_figure(dev, loss, metric=metric, best_step=best_step if best_step is not None else best_of(dev),
                        split=split)
    path = run_dir / CURVES_FILE
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    return path
