"""Build (or reuse) the built-in collection under data/builtin and print its counts.

Usage: python scripts/build_builtin.py [--root data/builtin] [--force]
"""

from __future__ import annotations

import argparse
import json
import time

from gradedpr.commands.cli import run_cli
from gradedpr.data.builtin import build_builtin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/builtin", help="output directory (BEIR layout)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a current build exists")
    args = parser.parse_args()
    start = time.perf_counter()
    root = build_builtin(args.root, force=args.force, key="--root")
    meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    print(f"built-in collection at {root} ({time.perf_counter() - start:.1f}s)")
    version, python, digest = meta["generator_version"], meta["python_version"], meta["sha256"][:16]
    print(f"generator {version}, Python {python}, sha256 {digest}")
    for key, value in meta["counts"].items():
        print(f"  {key:>14}: {value:,}")


if __name__ == "__main__":
    run_cli(main)  # a --root that holds a user's files: one line, exit 2
