"""One training run per loss (a Hydra multirun of scripts/train.py), then a summary table and bar chart.

    python scripts/sweep.py [losses=nll,listnet,...] [sweep_dir=...] [any scripts/train.py override ...]

Writes <sweep_dir>/summary.csv, summary.md, summary.json and ndcg_by_loss.png -- the study's aggregation: test
nDCG@10 per loss, paired tests against nll when the sweep has it -- and prints the Markdown table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from gradedpr.commands.cli import run_cli  # noqa: E402
from gradedpr.losses import available_losses  # noqa: E402
from gradedpr.study.sweep import write_report  # noqa: E402


def main(argv: list[str]) -> int:
    losses = ",".join(available_losses())
    sweep_dir = f"outputs/sweep/{time.strftime('%Y%m%d-%H%M%S')}"
    passthrough = []
    for arg in argv:
        if arg.startswith("losses="):
            losses = arg.split("=", 1)[1]
        elif arg.startswith("sweep_dir="):
            sweep_dir = arg.split("=", 1)[1]
        else:
            passthrough.append(arg)
    if "--report-only" not in passthrough:
        command = [
            sys.executable, str(ROOT / "scripts" / "train.py"), "--multirun", f"loss={losses}",
            "train.test_split=test", f"hydra.sweep.dir={sweep_dir}", "show_progress=false", *passthrough,
        ]
        print("running:", " ".join(command), flush=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        status = subprocess.call(command, env=env)
        if status != 0:
            print(f"sweep failed with exit status {status}; reporting the runs that finished", file=sys.stderr)
    _, out = write_report(sweep_dir)
    print((out / "summary.md").read_text(encoding="utf-8"))
    print(f"wrote {out / 'summary.csv'}, {out / 'summary.md'}, {out / 'ndcg_by_loss.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(lambda: main(sys.argv[1:])))
