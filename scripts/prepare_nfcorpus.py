"""Prepare NFCorpus from its public downloads in the layout the configs read (see data/README.md).

Usage: python scripts/prepare_nfcorpus.py --beir nfcorpus.zip --original nfcorpus/ [--output DIR]

--beir is BEIR's nfcorpus.zip (md5 checked) or the folder it unpacks to (or the folder it was unpacked in);
--original the folder of the original NFCorpus release with {train,dev,test}.2-1-0.qrel (and .3-2-1.qrel,
.titles.queries): unpack nfcorpus.tar.gz first (tar xzf nfcorpus.tar.gz) and pass the folder. The default
output is ../shared/data/nfcorpus, where configs/data/nfcorpus*.yaml look; elsewhere pass data.path=DIR.
An existing output is replaced only if this script wrote it. Bad input exits with status 2 and one line.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gradedpr.commands.cli import run_cli
from gradedpr.data.nfcorpus import BEIR_MD5, MARKER_FILE, prepare_nfcorpus

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nfcorpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beir", required=True, help="BEIR's nfcorpus.zip, or the nfcorpus/ folder it unpacks to")
    parser.add_argument("--original", required=True,
                        help="folder of the original NFCorpus release (*.qrel files; unpack nfcorpus.tar.gz first)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="collection directory to write")
    parser.add_argument("--skip-md5", action="store_true", help=f"accept a zip whose md5 is not {BEIR_MD5}")
    args = parser.parse_args()

    def run() -> None:
        start = time.perf_counter()
        meta = prepare_nfcorpus(args.beir, args.original, args.output,
                                expected_md5=None if args.skip_md5 else BEIR_MD5)
        print(f"NFCorpus prepared in {args.output} ({time.perf_counter() - start:.1f}s; sources and checksums in "
              f"{MARKER_FILE})")
        for key, value in meta["counts"].items():
            print(f"  {key:>30}: {value:,}")
        same = "identical to" if meta["matches_project_copy"] else "DIFFERENT from"
        print(f"the eight files are {same} the project's copy (sha256 in data/README.md)")

    run_cli(run)


if __name__ == "__main__":
    main()
