"""The study's plots (PNG, matplotlib): test metric per loss with error bars, dev metric over steps per loss."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gradedpr.study.aggregate import Row
from gradedpr.utils.atomic import atomic_open


def _figure_module():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_test(rows: Sequence[Row], path: Path, measure: str = "nDCG@10") -> None:
    """Bars: test mean per (regime, loss), error bars = std over seeds; baselines as horizontal lines."""
    plt = _figure_module()
    trained = [r for r in rows if r.regime != "none"]
    regimes = list(dict.fromkeys(r.regime for r in trained))
    fig, axes = plt.subplots(1, max(1, len(regimes)), figsize=(5.5 * max(1, len(regimes)), 4.2), squeeze=False)
    for ax, regime in zip(axes[0], regimes, strict=False):
        members = [r for r in trained if r.regime == regime]
        x = np.arange(len(members))
        ax.bar(x, [r.test_mean for r in members], yerr=[r.test_std for r in members], capsize=4,
               color=["#888888" if r.loss == "nll" else "#3b75af" for r in members])
        ax.set_xticks(x, [f"{r.loss}\n(n={r.seeds})" for r in members], rotation=45, ha="right", fontsize=8)
        for base, style in (("zeroshot", "--"), ("bm25", ":")):
            ref = next((r for r in rows if r.loss == base), None)
            if ref is not None:
                ax.axhline(ref.test_mean, linestyle=style, color="black", linewidth=1,
                           label=f"{base} {ref.test_mean:.4f}")
        values = [r.test_mean for r in members] + [r.test_mean for r in rows if r.regime == "none"]
        ax.set_ylim(min(values) - 0.02, max(values) + 0.015)
        ax.set_title(f"{regime} regime: test {measure}")
        if ax.get_legend_handles_labels()[0]:  # baselines drawn (a sweep has none)
            ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    _save(fig, path)


def plot_dev_curves(rows: Sequence[Row], path: Path, measure: str = "nDCG@10") -> None:
    """Lines: dev metric over training steps, mean over seeds, one line per loss, one panel per regime."""
    plt = _figure_module()
    trained = [r for r in rows if r.regime != "none" and r.curves]
    regimes = list(dict.fromkeys(r.regime for r in trained))
    fig, axes = plt.subplots(1, max(1, len(regimes)), figsize=(5.5 * max(1, len(regimes)), 4.2), squeeze=False)
    for ax, regime in zip(axes[0], regimes, strict=False):
        for row in (r for r in trained if r.regime == regime):
            steps = sorted({s for curve in row.curves for s, _ in curve})
            means = [np.mean([v for curve in row.curves for s, v in curve if s == step]) for step in steps]
            ax.plot(steps, means, marker="o", markersize=3, label=row.loss,
                    linestyle="--" if row.loss == "nll" else "-")
        zeroshot = next((r for r in rows if r.loss == "zeroshot" and r.dev), None)
        if zeroshot is not None:
            ax.axhline(zeroshot.dev_mean, linestyle=":", color="black", linewidth=1,
                       label=f"zeroshot {zeroshot.dev_mean:.4f}")
        ax.set_xlabel("step")
        ax.set_ylabel(f"dev {measure} (mean over seeds)")
        ax.set_title(f"{regime} regime")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _save(fig: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)  # type: ignore[attr-defined]
    _figure_module().close(fig)


def time_to_quality_points(summaries: Sequence[tuple[str, dict]], split: str = "test",
                           variant: str = "all") -> list[dict[str, object]]:
    """One point per study row of ``split`` / ``variant`` (``(study name, summary.json)`` pairs of blind
    studies): the median over seeds of the minutes per run the study runner recorded (a median, because one
    seed may have shared the machine with other work), the metric's mean and std over seeds; plus the
    zero-shot start model at 0 minutes. Rows scored on other judgments than the first row's (another zero-shot
    value, e.g. 3-level qrels) are left out: their values are not comparable."""
    points: list[dict[str, object]] = []
    zeroshot: float | None = None
    for study, summary in summaries:
        for row in summary.get("rows", []):
            if row.get("split") != split or row.get("variant", "all") != variant:
                continue
            zeroshot = float(row["zeroshot"]) if zeroshot is None else zeroshot
            if not row.get("minutes") or abs(float(row["zeroshot"]) - zeroshot) > 1e-9:
                continue
            points.append({"label": f"{study}: {row['regime']}/{row['loss']}", "study": study,
                           "minutes": float(np.median(row["minutes"])), "mean": float(row["mean"]),
                           "std": float(row.get("std") or 0.0), "seeds": len(row.get("per_seed") or [])})
    if zeroshot is not None:
        points.insert(0, {"label": "zero-shot start model", "study": "", "minutes": 0.0, "mean": zeroshot,
                          "std": 0.0, "seeds": 0})
    points.sort(key=lambda p: (float(p["minutes"]), -float(p["mean"])))  # type: ignore[arg-type]
    for number, point in enumerate(points, start=1):
        point["key"] = number  # the plot marks each point with its number; the key beside it names the row
    return points


def plot_time_to_quality(points: Sequence[dict[str, object]], path: Path, measure: str = "nDCG@10",
                         split: str = "test") -> None:
    """Scatter: the metric on ``split`` against minutes per run, error bars = std over seeds, one colour per
    study; each point carries its number (``key``, from :func:`time_to_quality_points`) and the key beside
    the axes names its row with its value and minutes (dozens of rows sit within 0.01 of each other, so names
    written at the points would overlap)."""
    plt = _figure_module()
    fig = plt.figure(figsize=(13, 7))
    ax = fig.add_axes((0.06, 0.09, 0.5, 0.84))
    key_ax = fig.add_axes((0.58, 0.02, 0.41, 0.96))
    key_ax.axis("off")
    studies = list(dict.fromkeys(str(p["study"]) for p in points))
    colours = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(studies)}
    lines = []
    for point in points:
        key = point["key"]
        ax.errorbar([point["minutes"]], [point["mean"]], yerr=[point["std"]], fmt="o", capsize=3,
                    color=colours[str(point["study"])])
        ax.annotate(str(key), (float(point["minutes"]), float(point["mean"])),  # type: ignore[arg-type]
                    textcoords="offset points", xytext=(4, 2), fontsize=6)
        lines.append(f"{key:>3} {float(point['mean']):.4f} {float(point['minutes']):6.1f} min  "  # type: ignore[arg-type]
                     f"{point['label']}")
    size = 7 if len(lines) <= 45 else max(4.0, 7 * 45 / len(lines))
    key_ax.text(0, 1, f"  # {split} {measure}  minutes  row\n" + "\n".join(lines), va="top", ha="left",
                family="monospace", fontsize=size, transform=key_ax.transAxes)
    for study in studies:
        if study:
            ax.plot([], [], "o", color=colours[study], label=study)
    ax.set_xlabel("minutes per run, median over seeds (this machine: 2 CPU cores, 2 runs at a time)")
    ax.set_ylabel(f"{split} {measure} (mean over seeds)")
    ax.set_title(f"Time to quality: {split} {measure} against training time")
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
