"""Time to quality (issue 18): every blind study's rows as test nDCG@10 against minutes per run, in one plot.

``python scripts/time_to_quality.py [--studies generalize surrogates bounded tools] [--split test] [--variant all]
[--output docs/study/time_to_quality.png]`` reads ``docs/study/<name>/summary.json`` of each study (their
minutes are the wall time the study runner recorded per run on this machine, with its load) and writes the
plot and the points beside it (``.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gradedpr.errors import DataError
from gradedpr.study.plots import plot_time_to_quality, time_to_quality_points
from gradedpr.utils.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="+", default=["generalize", "surrogates", "bounded", "tools"])
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "study")
    parser.add_argument("--split", default="test")
    parser.add_argument("--variant", default="all")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "study" / "time_to_quality.png")
    args = parser.parse_args(argv)
    summaries = []
    for name in args.studies:
        path = args.docs / name / "summary.json"
        if not path.is_file():
            print(f"error: {path}: no such study summary (run scripts/study.py study={name} first)", file=sys.stderr)
            return 2
        try:
            summaries.append((name, json.loads(path.read_text(encoding="utf-8"))))
        except ValueError as exc:
            raise DataError(f"not a study summary ({exc})", path) from None
    points = time_to_quality_points(summaries, args.split, args.variant)
    if len(points) < 2:
        print(f"error: no {args.split} rows with minutes in {', '.join(args.studies)} (score test first: "
              "scripts/study.py study=<name> test=true)", file=sys.stderr)
        return 2
    plot_time_to_quality(points, args.output, split=args.split)
    atomic_write_text(args.output.with_suffix(".json"), json.dumps(points, indent=1) + "\n")
    for point in points:  # in order of minutes, numbered as in the plot's key
        print(f"{point['key']:>3} {float(point['minutes']):6.1f} min  {float(point['mean']):.4f}  "  # type: ignore[arg-type]
              f"{point['label']}")
    print(f"plot: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
