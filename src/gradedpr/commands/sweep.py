"""Collect a loss sweep (a Hydra multirun of ``scripts/train.py``) into a table and a bar chart."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gradedpr.filenames import RUN_CONFIG
from gradedpr.utils.atomic import atomic_open, atomic_write_text

COLUMNS = ("loss", "dev_ndcg@10_step0", "dev_ndcg@10_best", "best_step", "test_ndcg@10", "steps", "seconds")


def collect(sweep_dir: str | Path, metric: str = "ndcg@10") -> list[dict[str, Any]]:
    """One row per finished job under ``sweep_dir`` (each job directory holds config.yaml + train_summary.json)."""
    rows = []
    for summary_path in sorted(Path(sweep_dir).glob("*/train_summary.json")):
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        config = (summary_path.parent / RUN_CONFIG).read_text(encoding="utf-8")
        loss = _loss_name(config) or summary_path.parent.name
        evaluations = summary.get("evaluations") or [{}]
        rows.append(
            {
                "loss": loss,
                "dev_ndcg@10_step0": evaluations[0].get(f"dev/{metric}"),
                "dev_ndcg@10_best": summary.get("best_dev_metric"),
                "best_step": summary.get("best_step"),
                "test_ndcg@10": (summary.get("test") or {}).get(f"test/{metric}"),
                "steps": summary.get("steps"),
                "seconds": summary.get("seconds"),
            }
        )
    return rows


def _loss_name(config_yaml: str) -> str | None:
    """``loss.name`` of a job's config.yaml (None when the file is no YAML mapping or names no loss)."""
    try:
        config = yaml.safe_load(config_yaml)
    except yaml.YAMLError:
        return None
    loss = config.get("loss") if isinstance(config, dict) else None
    name = loss.get("name") if isinstance(loss, dict) else None
    return None if name is None else str(name)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c) for c in COLUMNS})
    return buffer.getvalue()


def bar_chart(rows: Sequence[dict[str, Any]], path: str | Path, title: str) -> None:
    """Grouped bars of dev (best) and test nDCG@10 per loss, with the zero-shot dev value as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r["loss"]) for r in rows]
    dev = [r.get("dev_ndcg@10_best") or 0.0 for r in rows]
    test = [r.get("test_ndcg@10") or 0.0 for r in rows]
    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4))
    ax.bar([x - 0.2 for x in xs], dev, width=0.4, label="dev (best checkpoint)")
    ax.bar([x + 0.2 for x in xs], test, width=0.4, label="test (best checkpoint)")
    zero_shot = [r["dev_ndcg@10_step0"] for r in rows if r.get("dev_ndcg@10_step0") is not None]
    if zero_shot:
        ax.axhline(sum(zero_shot) / len(zero_shot), color="grey", linestyle="--", label="dev at step 0")
    ax.set_xticks(list(xs), names, rotation=30, ha="right")
    ax.set_ylabel("nDCG@10")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def write_report(sweep_dir: str | Path, title: str = "loss sweep") -> tuple[list[dict[str, Any]], Path]:
    """Write ``summary.csv``, ``summary.md`` and ``ndcg_by_loss.png`` into ``sweep_dir``."""
    out = Path(sweep_dir)
    rows = collect(out)
    if not rows:
        raise FileNotFoundError(f"{out}: no finished runs (no */train_summary.json)")
    atomic_write_text(out / "summary.csv", to_csv(rows))
    atomic_write_text(out / "summary.md", to_markdown(rows))
    bar_chart(rows, out / "ndcg_by_loss.png", title)
    return rows, out
